// libs/hsm public API: PKCS#11 keystore over pkcs11js, key roles, TLS with HSM-held keys,
// rotation, readiness and the Nest module. Nothing below this file is imported from outside.

export { HsmError, type HsmErrorCode } from './hsm.error';
export {
  DEFAULT_HSM_MODULE,
  DEFAULT_HSM_TOKEN_LABEL,
  DEFAULT_OPENSSL_PKCS11_ENGINE,
  hsmConfigFromEnv,
  loadHsmConfig,
  RedactedSecret,
  type HsmConfig,
  type HsmEnv,
} from './hsm.config';
export {
  ALL_HSM_KEY_ROLES,
  HSM_KEY_ROLES,
  keyLabel,
  parseKeyLabel,
  rotationStateLabel,
  type HsmKeyAlgorithm,
  type HsmKeyRole,
  type HsmKeyRoleSpec,
  type HsmKeyUsage,
} from './hsm-key-roles';
export { HsmSessionPool, type HsmConnectionOptions, type HsmTokenStatus, type Pkcs11Handle } from './hsm-session-pool';
export {
  algorithmOfLabel,
  HSM_DATA_APPLICATION,
  HsmKeystore,
  MAX_WRAP_BYTES,
  type EcdsaSignatureFormat,
  type HsmKeyAttributes,
  type HsmObjectClass,
} from './hsm-keystore';
export type { HsmPublicKey } from './hsm-public-key';
export { ecdsaDerToRaw, ecdsaRawToDer } from './ecdsa-signature';
export { HsmKeyAgreement, HsmSigner } from './hsm-signer';
export { HsmHealthCheck, type HsmHealthOptions, type HsmReadiness } from './hsm-health';
export { HsmKeyRotation, type HsmKeyVersion, type HsmRotationState } from './hsm-rotation';
export { initializeToken, randomPin, type TokenInitOptions, type TokenInitResult } from './hsm-token-init';
export { createCertificateSigningRequest, createSelfSignedCertificate, toPem, type PemDer, type TlsCertificateOptions } from './hsm-certificate';
export {
  createHsmSecureContext,
  HSM_TLS_CIPHERS,
  HSM_TLS_ENGINE,
  HSM_TLS13_CIPHERSUITES,
  hsmTlsBaseOptions,
  hsmTlsNodeFlags,
  hsmTlsServer,
  opensslHsmConfig,
  pkcs11KeyUri,
  useHsmSmtpContext,
  writeOpensslHsmConfig,
  type HsmTlsCredentials,
  type OpensslHsmConfigOptions,
} from './hsm-tls';
export { createHsmSmtpServer, type HsmSmtpListenerOptions } from './hsm-smtp-listener';
export { HSM_CONFIG, HsmModule, type HsmModuleOptions } from './hsm.module';
