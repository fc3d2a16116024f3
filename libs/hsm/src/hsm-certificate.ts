// X.509 for the HSM-held TLS keys: a self-signed certificate for local use and a CSR for a real
// CA. The TBS structures are built here (@peculiar/asn1-*) and signed inside the HSM
// (ECDSA P-256/SHA-256 or RSA PKCS#1 v1.5/SHA-256), so the private key never leaves the token.
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill loaded first
import { createHash, randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Attribute, Certificate, Extension, Extensions, Name, SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import * as x509 from '@peculiar/x509';
import type { HsmKeystore } from './hsm-keystore';
import { algorithmOfLabel } from './hsm-keystore';

export interface TlsCertificateOptions {
  /** Subject CN (the host name). */
  readonly commonName: string;
  /** subjectAltName DNS names (the CN is added when missing). */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly organization?: string;
  readonly validityDays?: number;
  /** Clock as a parameter (tests). */
  readonly now?: Date;
}

export interface PemDer {
  readonly der: Buffer;
  readonly pem: string;
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

function extension(ext: x509.Extension): Extension {
  return AsnConvert.parse(ext.rawData, Extension);
}

function subjectName(options: TlsCertificateOptions): Name {
  const escape = (value: string): string => value.replace(/([,+"\\<>;=])/g, '\\$1');
  const parts = [`CN=${escape(options.commonName)}`];
  if (options.organization) parts.push(`O=${escape(options.organization)}`);
  return AsnConvert.parse(new x509.Name(parts.join(', ')).toArrayBuffer(), Name);
}

function serverExtensions(options: TlsCertificateOptions, spki: Buffer, rsa: boolean): Extension[] {
  const dns = [...new Set([options.commonName, ...(options.dnsNames ?? [])])];
  const names: x509.JsonGeneralName[] = [
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const usage = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const keyId = createHash('sha1').update(new Uint8Array(AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey)).digest('hex');
  return [
    extension(new x509.BasicConstraintsExtension(false, undefined, true)),
    extension(new x509.KeyUsagesExtension(usage, true)),
    extension(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])),
    extension(new x509.SubjectAlternativeNameExtension(names)),
    extension(new x509.SubjectKeyIdentifierExtension(keyId)),
  ];
}

/** Sign DER with the key behind label, returning the signature and its AlgorithmIdentifier. */
async function hsmSign(keystore: HsmKeystore, label: string, tbs: Buffer): Promise<Buffer> {
  return algorithmOfLabel(label).type === 'rsa' ? keystore.signRsaSha256(label, tbs) : keystore.signEcdsa(label, tbs, 'der');
}

function signatureAlgorithm(label: string): AlgorithmIdentifier {
  const algorithm = algorithmOfLabel(label);
  if (algorithm.type === 'rsa') return new AlgorithmIdentifier({ algorithm: OID_RSA_SHA256, parameters: null });
  if (algorithm.type === 'ec' && algorithm.curve === 'P-256') return new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA256 });
  throw new RangeError(`"label" ${label} is not a TLS key (ECDSA P-256 or RSA)`);
}

/**
 * A certificate serial number: 16 bytes (126 random bits), whose DER INTEGER is positive and
 * minimal. The first byte is kept in 0x40-0x7f: a first byte of 0x00 followed by one under 0x80
 * is a non-minimal INTEGER, which OpenSSL refuses ("illegal padding") when it loads the
 * certificate; with only the high bit cleared that happened to about 1 certificate in 256.
 */
export function certificateSerial(random: Uint8Array = randomBytes(16)): Buffer {
  if (random.length !== 16) throw new RangeError('"random" must be 16 bytes');
  const serial = Buffer.from(random);
  serial[0] = 0x40 | (serial[0]! & 0x3f);
  return serial;
}

/** A self-signed server certificate for the HSM key behind label. */
export async function createSelfSignedCertificate(keystore: HsmKeystore, label: string, options: TlsCertificateOptions): Promise<PemDer> {
  const sigAlg = signatureAlgorithm(label);
  const publicKey = await keystore.publicKey(label);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + (options.validityDays ?? 365) * 86_400_000);
  const serial = certificateSerial();
  const name = subjectName(options);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(serial),
    signature: sigAlg,
    issuer: name,
    validity: new Validity({ notBefore, notAfter }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.spki, SubjectPublicKeyInfo),
    extensions: new Extensions(serverExtensions(options, publicKey.spki, publicKey.algorithm.type === 'rsa')),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = await hsmSign(keystore, label, tbsDer);
  const certificate = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: sigAlg,
    signatureValue: arrayBuffer(signature),
  });
  const der = Buffer.from(AsnConvert.serialize(certificate));
  return { der, pem: toPem(der, 'CERTIFICATE') };
}

/** A PKCS#10 request (with the same subjectAltName) for a real CA, signed in the HSM. */
export async function createCertificateSigningRequest(keystore: HsmKeystore, label: string, options: TlsCertificateOptions): Promise<PemDer> {
  const sigAlg = signatureAlgorithm(label);
  const publicKey = await keystore.publicKey(label);
  const requested = new Extensions(serverExtensions(options, publicKey.spki, publicKey.algorithm.type === 'rsa'));
  const info = new CertificationRequestInfo({
    version: 0,
    subject: subjectName(options),
    subjectPKInfo: AsnConvert.parse(publicKey.spki, SubjectPublicKeyInfo),
    attributes: new Attributes([new Attribute({ type: OID_EXTENSION_REQUEST, values: [AsnConvert.serialize(requested)] })]),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const signature = await hsmSign(keystore, label, infoDer);
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: sigAlg,
    signature: arrayBuffer(signature),
  });
  const der = Buffer.from(AsnConvert.serialize(request));
  return { der, pem: toPem(der, 'CERTIFICATE REQUEST') };
}
