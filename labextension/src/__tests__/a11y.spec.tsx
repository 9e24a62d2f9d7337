/** The panel's sections checked by axe-core (the engine behind Lighthouse's accessibility audit) in each of
 * their states: every control named, tables with headers, no ARIA misuse. Colour contrast needs a real
 * browser: the Chromium test (tests/integration/test_panel_in_browser.py) runs axe there too. */
import { act, fireEvent, render, screen } from '@testing-library/react';
import axe from 'axe-core';
import React from 'react';

import { PanelView } from '../view';
import { fakeApi, job, jobRun, run, settings } from './fakes';

async function violations(container: HTMLElement): Promise<string[]> {
  const result = await axe.run(container, { rules: { 'color-contrast': { enabled: false }, region: { enabled: false } } });
  return result.violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.html).join(' | ').slice(0, 300)})`);
}

function panel(api: ReturnType<typeof fakeApi>) {
  return render(<PanelView api={api} path="p/a.ipynb" settings={settings} refreshTick={0}
    saveNotebook={async () => undefined} openPath={() => undefined} />);
}

test('the panel with no runs and no schedule has no accessibility violations', async () => {
  const { container } = panel(fakeApi());
  await screen.findByText(/This notebook has no schedule/);
  expect(await violations(container)).toEqual([]);
});

test('the panel with runs, a comparison, a schedule, its runs and a log has none either', async () => {
  const api = fakeApi({
    runs: () => Promise.resolve({ path: 'p/a.ipynb', user: 'ada', next_page_token: 'more', runs: [
      run({ run_id: 'a', metrics: { accuracy: 0.9 }, params: { lr: '0.1' } }),
      run({ run_id: 'b', metrics: { accuracy: 0.8 }, params: { lr: '0.2' }, uncommitted_changes: true })
    ] }),
    jobs: () => Promise.resolve([job()]),
    jobDetail: () => Promise.resolve({ job: job(), runs: [jobRun(), jobRun({ run_id: 'r2', state: 'failed' })], total: 5 }),
    jobLog: () => Promise.resolve({ lines: ['Executing', 'done'], continuation_token: 't', state: 'success', try_number: 1 })
  });
  const { container } = panel(api);
  for (const box of await screen.findAllByRole('checkbox', { name: /Select run/ })) {
    fireEvent.click(box);
  }
  fireEvent.click(screen.getByRole('button', { name: 'Compare the two selected runs' }));
  const logButtons = await screen.findAllByRole('button', { name: /Show the log of run/ });
  await act(async () => fireEvent.click(logButtons[0]));
  await screen.findByRole('log');
  fireEvent.click(screen.getByRole('button', { name: 'Remove' })); // the confirmation too
  expect(screen.getByRole('table', { name: 'Two runs compared' })).toBeTruthy();
  expect(await violations(container)).toEqual([]);
});
