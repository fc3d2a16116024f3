// Moved to @lib/dime-users (see dime-user.service.ts here); import the lib.
export { readOrgSignetFile } from '@lib/dime-users';
