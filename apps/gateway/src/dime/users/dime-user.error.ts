// Moved to @lib/dime-users (see dime-user.service.ts here); import the lib.
export { DIME_USER_ERROR_REPLIES, DimeUserError, isDimeUserError, type DimeUserErrorCode } from '@lib/dime-users';
