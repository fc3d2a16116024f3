// Moved to @lib/dime-users: the operator CLI (and later the admin API) provision and suspend users
// too, and apps never import each other. Kept so existing gateway imports resolve; import the lib.
export { DimeUserService, normalizeAddress, type DimeUser, type DimeUserKeys, type DimeUserServiceOptions, type UserAuditSink, type UserKeyWrapper } from '@lib/dime-users';
