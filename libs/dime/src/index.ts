// libs/dime public API: DIME in the magma-libdime dialect (DIGEST.md), no I/O. Everything a caller
// may use is named here; nothing below this file is imported from outside the lib (STYLE.md 6).

// errors
export { DimeError, isDimeError, type DimeErrorCode } from './dime.error';

// primitives and key-holding interfaces
export {
  ed25519Generate,
  ed25519PublicFromSeed,
  ed25519Verify,
  kekFromSharedSecret,
  secp256k1Ecdh,
  secp256k1Generate,
  secp256k1IsValidPublic,
  secp256k1PublicFromPrivate,
  sha512,
  type Kek,
} from './primitives';
export { InMemoryKeyAgreement, InMemorySigner, type KeyAgreement, type Signer } from './signer';
export { base64NoPad, decodeBase64 } from './base64';
export { isDomainName, isMailboxAddress } from './domain-name';

// armor and key files
export { armor, ARMOR_TAGS, dearmor, decodeObjectInput, isArmored, type ArmorTag, type Dearmored } from './armor';
export { crc24 } from './crc24';
export {
  armorEd25519PrivateKey,
  armorKeyFile,
  generateKeyFile,
  parseEd25519PrivateKeyPem,
  parseKeyFile,
  readKeyFile,
  serializeKeyFile,
  type DimeKeys,
  type KeyFileType,
} from './key-file';

// signets
export { SIGNET_MAGIC, type Signet, type SignetField } from './signet/signet';
export { SignetFid, type SignetType } from './signet/signet-field.table';
export { SIGNET_MAX_SIZE } from './signet/signet';
export { armorSignet, parseSignet, readSignet, serializeSignet } from './signet/signet-codec';
export {
  addSignetFields,
  removeSignetField,
  setSignetField,
  setSignetId,
  signetAlternateEncryptionKeys,
  signetEncryptionKey,
  signetField,
  signetFields,
  signetFieldText,
  signetId,
  signetNamedField,
  signetSigningKey,
  signetSoks,
  SokPermission,
  type SignetFieldInput,
  type SignetSok,
} from './signet/signet-fields';
export { createOrgSignet, createSsr, fullSign, idSign, signSsr, type CreateOrgSignetOptions, type CreateSsrOptions } from './signet/signet-sign';
export { splitSignet, type SignetView } from './signet/signet-split';
export { signetFingerprint, signetFingerprintBytes, type SignetFingerprintKind } from './signet/signet-fingerprint';
export {
  signetStructureState,
  validateSignet,
  validateSignetBytes,
  type SignetAnchor,
  type SignetState,
  type ValidateSignetOptions,
} from './signet/signet-validate';
export { ORG_SIGNET_CHAIN_FIELDS, orgSignetChainFields, orgSignetChainLink, type OrgSignetChainLink } from './signet/signet-chain';

// DNS management record
export {
  createTlsSignature,
  DIME_RECORD_PREFIX,
  DIME_RECORD_VERSION,
  formatManagementRecord,
  managementRecordName,
  parseManagementRecord,
  toTxtStrings,
  toZoneFileText,
  verifyTlsSignature,
  type DimeMessagePolicy,
  type DimeSubdomainPolicy,
  type ManagementRecord,
} from './management-record';

// D/MIME messages
export { ChunkType, MESSAGE_MAGIC, parseMessageFrame } from './message/message-chunk';
export { sealMessage } from './message/message-seal';
export { signOrigin } from './message/message-origin-sign';
export { openMessage } from './message/message-open';
export {
  DIME_ACTORS,
  type DestinationEnvelope,
  type DimeActor,
  type MessageChunkFrame,
  type MessageFrame,
  type MessageSignatureName,
  type OpenedMessage,
  type OpenOptions,
  type OriginEnvelope,
  type OriginSignOptions,
  type SealInput,
  type SignatureStatus,
} from './message/message.types';

// RFC 5322 <-> DIME chunk contents
export { DEFAULT_MAX_CHUNK_DATA, joinRfc5322, MAX_CHUNK_DATA, splitRfc5322, type DimeContent, type JoinRfc5322Content, type SplitRfc5322Options } from './rfc5322-mapping';

// DMTP grammar (docs/dmtp.md)
export {
  DMTP_MAX_COMMAND_LINE,
  DMTP_VERBS,
  formatDmtpCommand,
  isDmtpVerb,
  parseDmtpCommand,
  type DmtpCommand,
  type DmtpDataType,
  type DmtpReturnType,
  type DmtpSignetKind,
  type DmtpVerb,
} from './dmtp/dmtp-command';
export {
  DMTP_BANNER_TOKEN,
  DMTP_MAX_REPLY_LINE,
  dmtpReplyArgument,
  formatDmtpReply,
  isDmtpBanner,
  parseDmtpReply,
  parseDmtpReplyLine,
  type DmtpReply,
  type DmtpReplyLine,
} from './dmtp/dmtp-reply';
export { DMTP_DEFAULT_MAX_MESSAGE, DmtpReplyReader, DmtpStreamReader, type DmtpStreamReaderOptions } from './dmtp/dmtp-stream-reader';
export { DMTP_TRANSIENT_FAILURE, dmtpReplyForError } from './dmtp/dmtp-error-reply';
