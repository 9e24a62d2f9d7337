// Component tests run in jsdom; the components import only React and ./types, so no JupyterLab
// (ESM) package has to be transformed.
module.exports = {
  testEnvironment: 'jsdom',
  testRegex: 'src/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  // the components and pure helpers; the Lumino/JupyterLab wrappers (index, panel, lazy, statusbar, client,
  // icon) run in the browser test (tests/integration/test_panel_in_browser.py) instead
  collectCoverageFrom: [
    'src/*.{ts,tsx}',
    '!src/{index,panel,lazy,statusbar,client,icon}.ts{,x}'
  ],
  coverageReporters: ['text-summary', 'text'],
  // `jlpm test --coverage` (the suite runs it so) fails below these
  coverageThreshold: { global: { lines: 85, branches: 75, functions: 80, statements: 85 } }
};
