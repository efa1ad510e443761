import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';
import { waitFor } from '../support/wait';

/**
 * The alerting rules (config/alert-rules.yml) against what the service really exports: every series a
 * rule selects exists from start-up, and a first event moves a series that was 0 to 1, which
 * increase() sees. With promtool on the PATH (CI installs it: test/support/promtool.sh), the rule itself
 * is evaluated on the two scrapes. promtool's own unit tests (config/alert-rules.test.yml) cover each
 * rule with synthetic series.
 */

const RULES_FILE = join(__dirname, '../../config/alert-rules.yml');
const RULES = readFileSync(RULES_FILE, 'utf8');
const PAY_504 = 'icg_bff_http_request_duration_seconds_count{method="POST",route="/pay/:invoiceId",status_code="504"}';
const LOGIN_REJECTED = 'icg_bff_token_acquisitions_total{kind="login",result="rejected"}';
const OUTCOME_UNKNOWN = 'icg_bff_payment_outcomes_total{outcome="unknown"}';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a scrape in Prometheus text format (comments skipped). */
function parseScrape(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unparsable sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, name = '', value = ''] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value;
      return { name: match[1] ?? '', labels, value: Number(match[3]) };
    });
}

/** The value of one series, written as in the rules: `name{a="b",c="d"}` (labels in the exported order). */
function valueOf(samples: readonly Sample[], series: string): number | undefined {
  return samples.find((sample) => sampleText(sample) === series)?.value;
}

function sampleText(sample: Sample): string {
  const labels = Object.entries(sample.labels).map(([name, value]) => `${name}="${value}"`);
  return labels.length > 0 ? `${sample.name}{${labels.join(',')}}` : sample.name;
}

/** A vector selector of the rules: metric name and label matchers. */
interface Selector {
  readonly text: string;
  readonly name: string;
  readonly matchers: readonly { readonly label: string; readonly op: string; readonly value: string }[];
}

/** Every selector of an icg_bff_ metric in the rules' expressions. */
function ruleSelectors(rules: string): Selector[] {
  const expressions = rules
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  return [...expressions.matchAll(/\b(icg_bff_[a-z0-9_]+)(?:\{([^}]*)\})?/g)].map((match) => ({
    text: match[0],
    name: match[1] ?? '',
    matchers: [...(match[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(([, label = '', op = '', value = '']) => ({ label, op, value })),
  }));
}

function selects(selector: Selector, sample: Sample): boolean {
  if (sample.name !== selector.name) return false;
  return selector.matchers.every(({ label, op, value }) => {
    const actual = sample.labels[label] ?? '';
    const anchored = new RegExp(`^(?:${value})$`);
    if (op === '=') return actual === value;
    if (op === '!=') return actual !== value;
    if (op === '=~') return anchored.test(actual);
    return !anchored.test(actual);
  });
}

/** The `expr:` of one alert in the rules file (a one-line value or a `|` block). */
function alertExpression(rules: string, alert: string): string {
  const lines = rules.split('\n');
  const start = lines.findIndex((line) => line.trim() === `- alert: ${alert}`);
  const exprAt = lines.findIndex((line, index) => index > start && /^\s+expr:/.test(line));
  if (start < 0 || exprAt < 0) throw new Error(`no alert ${alert} in the rules`);
  const exprLine = lines[exprAt] ?? '';
  const inline = exprLine.replace(/^\s+expr:\s*/, '');
  if (inline !== '|') return inline;
  const indent = exprLine.search(/\S/);
  const block: string[] = [];
  for (const line of lines.slice(exprAt + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    block.push(line.trim());
  }
  return block.join(' ').trim();
}

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks with promtool that an alert's expression yields nothing on the first scrape and one series on
 * the second, a minute later (each series labelled as Prometheus labels a target); throws with
 * promtool's report otherwise. The process start time is left out, so only the rule's increase() can
 * fire: what the series being at 0 before the event buys.
 */
function firesOnScrapes(alert: string, before: readonly Sample[], after: readonly Sample[], series: readonly string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-test-'));
  try {
    const target = 'job="icg-bff",instance="test:1"';
    const input = series.map((text) => {
      const withTarget = text.includes('{') ? text.replace('{', `{${target},`) : `${text}{${target}}`;
      // A series a scrape lacks is a missing sample ("_"), as Prometheus would have none.
      const value = (samples: readonly Sample[]) => String(valueOf(samples, text) ?? '_');
      return `      - series: '${withTarget}'\n        values: '${value(before)} ${value(after)}'`;
    });
    const test = [
      `rule_files: []`,
      `evaluation_interval: 1m`,
      `tests:`,
      `  - interval: 1m`,
      `    input_series:`,
      ...input,
      `    promql_expr_test:`,
      `      - expr: 'count(${alertExpression(RULES, alert).replaceAll("'", "''")})'`,
      `        eval_time: 0m`,
      `        exp_samples: []`,
      `      - expr: 'count(${alertExpression(RULES, alert).replaceAll("'", "''")})'`,
      `        eval_time: 1m`,
      `        exp_samples: [{ labels: '{}', value: 1 }]`,
    ].join('\n');
    writeFileSync(join(dir, 'test.yml'), `${test}\n`);
    try {
      execFileSync('promtool', ['test', 'rules', join(dir, 'test.yml')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`${alert}: not silent on the first scrape and firing on the second:\n${test}\n${stdout}${stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function scrape(h: Harness): Promise<Sample[]> {
  const service = h.services[0];
  if (!service) throw new Error('no service');
  const res = await fetch(`${service.adminUrl}/metrics`);
  expect(res.status).toBe(200);
  return parseScrape(await res.text());
}

const withPromtool = hasPromtool() ? it : it.skip;
if (!hasPromtool()) console.warn('promtool is not on the PATH: the rule evaluations of alerts.test.ts are skipped (bash test/support/promtool.sh installs it)');

describe('alerting rules against the exported metrics', () => {
  it('finds a series for every selector of the rules from start-up, before any request', async () => {
    const h = await startHarness();
    try {
      const samples = await scrape(h);
      const selectors = ruleSelectors(RULES);
      expect(selectors.length).toBeGreaterThan(20);
      const missing = selectors.filter((selector) => !samples.some((sample) => selects(selector, sample))).map((selector) => selector.text);
      expect(missing).toEqual([]);
    } finally {
      await h.close();
    }
  });

  describe('a first 504', () => {
    let h: Harness;
    let before: Sample[];
    let after: Sample[];
    beforeAll(async () => {
      h = await startHarness({ env: { ICG_TIMEOUT_MS: '300' } });
      expect((await postJson(`${h.url}/pay/alert-1`, payBody())).status).toBe(200);
      before = await scrape(h);
      h.icg.faults.payHang = true;
      expect((await postJson(`${h.url}/pay/alert-2`, payBody())).status).toBe(504);
      h.icg.faults.payHang = false;
      await waitFor(async () => valueOf(await scrape(h), PAY_504) === 1, 2000, 'the 504 counted');
      after = await scrape(h);
    });
    afterAll(async () => h.close());

    it('moves the 504 series (and the unknown outcome) from 0 to 1, so increase() sees it', () => {
      expect(valueOf(before, PAY_504)).toBe(0);
      expect(valueOf(after, PAY_504)).toBe(1);
      expect(valueOf(before, OUTCOME_UNKNOWN)).toBe(0);
      expect(valueOf(after, OUTCOME_UNKNOWN)).toBe(1);
    });

    withPromtool('raises PayTimeouts and PaymentOutcomeUnknown on these two scrapes (promtool)', () => {
      expect(() => {
        firesOnScrapes('PayTimeouts', before, after, [PAY_504]);
      }).not.toThrow();
      expect(() => {
        firesOnScrapes('PaymentOutcomeUnknown', before, after, [OUTCOME_UNKNOWN]);
      }).not.toThrow();
    });
  });

  describe('a first rejected login', () => {
    let h: Harness;
    let before: Sample[];
    let after: Sample[];
    beforeAll(async () => {
      h = await startHarness();
      before = await scrape(h);
      h.icg.faults.rejectCredentials = true;
      expect((await postJson(`${h.url}/pay/alert-3`, payBody())).status).toBe(503);
      await waitFor(async () => valueOf(await scrape(h), LOGIN_REJECTED) === 1, 2000, 'the rejected login counted');
      after = await scrape(h);
    });
    afterAll(async () => h.close());

    it('moves the rejected-login series from 0 to 1', () => {
      expect(valueOf(before, LOGIN_REJECTED)).toBe(0);
      expect(valueOf(after, LOGIN_REJECTED)).toBe(1);
    });

    withPromtool('raises IcgCredentialsRejected on these two scrapes (promtool)', () => {
      expect(() => {
        firesOnScrapes('IcgCredentialsRejected', before, after, [LOGIN_REJECTED]);
      }).not.toThrow();
    });
  });
});
