// libs/dime-users public API: the local DIME users of trustful mode (keys wrapped under the HSM
// user-kek in PostgreSQL, user signets signed by the HSM-held org POK). A lib, not part of the
// gateway app, because the operator CLI (and later the admin API) provision and suspend users too.
export { DIME_USER_ERROR_REPLIES, DimeUserError, isDimeUserError, type DimeUserErrorCode } from './dime-user.error';
export {
  DimeUserService,
  normalizeAddress,
  type DimeUser,
  type DimeUserKeys,
  type DimeUserServiceOptions,
  type UserAuditSink,
  type UserKeyWrapper,
} from './dime-user.service';
export { readOrgSignetFile } from './org-signet.file';
