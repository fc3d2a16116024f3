// Import rules of ARCHITECTURE.md §6, checked in CI (`npm run depcruise`), not by review.
module.exports = {
  forbidden: [
    { name: 'libs-not-to-apps', severity: 'error', comment: 'libs never import apps', from: { path: '^libs/' }, to: { path: '^apps/' } },
    {
      name: 'apps-not-to-other-apps',
      severity: 'error',
      comment: 'apps never import each other',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/([^/]+)/', pathNot: '^apps/$1/' },
    },
    {
      name: 'dime-is-pure',
      severity: 'error',
      comment: 'libs/dime imports only node:crypto, the secp256k1 binding and itself (no I/O, no frameworks)',
      from: { path: '^libs/dime/src/', pathNot: '\\.(spec|medium-spec|e2e-spec)\\.ts$' },
      to: {
        pathNot: ['^libs/dime/src/', '^node_modules/secp256k1/', '^node_modules/@types/secp256k1/', '^crypto$', '^node:crypto$'],
      },
    },
    {
      name: 'no-deep-lib-imports',
      severity: 'error',
      comment: 'from outside a lib, only its public entry (libs/x/src/index.ts) may be imported',
      from: { path: '^(apps|bench|test)/|^libs/([^/]+)/', pathNot: '^libs/([^/]+)/.*' },
      to: { path: '^libs/([^/]+)/src/', pathNot: '^libs/[^/]+/src/index\\.ts$' },
    },
    {
      name: 'no-cross-lib-deep-imports',
      severity: 'error',
      comment: 'a lib reaches another lib only through its public entry',
      from: { path: '^libs/([^/]+)/' },
      to: { path: '^libs/([^/]+)/src/', pathNot: ['^libs/$1/', '^libs/[^/]+/src/index\\.ts$'] },
    },
    {
      name: 'admin-ui-only-generated-types',
      severity: 'error',
      comment: 'the UI knows the API only through the generated types',
      from: { path: '^apps/admin-ui/' },
      to: { path: '^(apps/admin-api|libs)/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'tests-not-from-production',
      severity: 'error',
      comment: 'production code never imports test files or the test harness',
      from: { path: '^(apps|libs)/', pathNot: '\\.(spec|medium-spec|e2e-spec)\\.ts$' },
      to: { path: '(\\.(spec|medium-spec|e2e-spec)\\.ts$)|^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(dist|node_modules)/' },
  },
};
