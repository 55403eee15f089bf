// Prints "N passed, M failed" from vitest's JSON report.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.reports/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.log(`0 passed, 1 failed (no test report at ${file}: ${error.message})`);
  process.exit(1);
}
const failed = report.numFailedTests + (report.numFailedTestSuites ?? 0) - countSuitesWithFailedTests(report);
console.log(`${report.numPassedTests} passed, ${Math.max(failed, report.numFailedTests)} failed`);
process.exit(report.success && report.numPassedTests > 0 ? 0 : 1);

function countSuitesWithFailedTests(r) {
  return (r.testResults ?? []).filter((s) => s.assertionResults?.some((a) => a.status === 'failed')).length;
}
