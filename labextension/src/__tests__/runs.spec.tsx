import { act, fireEvent, render, screen, within } from '@testing-library/react';
import React from 'react';

import { RunsView } from '../runs';
import { ServerError } from '../types';
import { fakeApi, run, settings } from './fakes';

const page = (runs: any[]) => ({ path: 'a.ipynb', user: 'ada', runs, next_page_token: null });
const twoRuns = [
  run({ run_id: 'new', run_name: 'new-run', metrics: { accuracy: 0.91234567, loss: 0.2 }, params: { lr: '0.1' }, uncommitted_changes: true, url: 'http://mlflow/run/new' }),
  run({ run_id: 'old', run_name: 'old-run', metrics: { accuracy: 0.8 }, params: { lr: '0.01', depth: '3' } })
];

test('lists my runs newest first with metrics, params, commit and the MLflow link', async () => {
  const api = fakeApi({ runs: () => Promise.resolve(page(twoRuns)) });
  render(<RunsView api={api} path="p/a.ipynb" settings={settings} />);
  const rows = await screen.findAllByRole('row');
  expect(rows).toHaveLength(3); // header + two runs, in the server's (newest first) order
  expect(api.calls[0]).toEqual(['runs', 'p/a.ipynb', false, 50]);
  const first = within(rows[1]);
  expect(first.getByText('0.9123')).toBeTruthy();
  expect(first.getByText('0.1')).toBeTruthy();
  expect(first.getByText('01234567')).toBeTruthy();
  expect(first.getByText(/uncommitted/)).toBeTruthy();
  expect(first.getByTitle('Open this run in MLflow').getAttribute('href')).toBe('http://mlflow/run/new');
  expect(within(rows[2]).queryByText(/uncommitted/)).toBeNull();
});

test('everyone\'s runs on request, with a user column', async () => {
  const api = fakeApi({ runs: () => Promise.resolve(page(twoRuns)) });
  render(<RunsView api={api} path="a.ipynb" settings={settings} />);
  await screen.findAllByRole('row');
  await act(async () => fireEvent.click(screen.getByLabelText(/Everyone/)));
  expect(api.calls[api.calls.length - 1]).toEqual(['runs', 'a.ipynb', true, 50]);
  expect(screen.getByRole('columnheader', { name: 'User' })).toBeTruthy();
});

test('configured metric columns replace the first ones seen', async () => {
  const api = fakeApi({ runs: () => Promise.resolve(page(twoRuns)) });
  render(<RunsView api={api} path="a.ipynb" settings={{ ...settings, metricsColumns: ['loss'], paramsColumns: ['depth'] }} />);
  await screen.findAllByRole('row');
  const headers = screen.getAllByRole('columnheader').map(h => h.textContent);
  expect(headers).toEqual(['Select', 'Time', 'Status', 'loss', 'depth', 'Commit']);
});

test('compares two selected runs side by side', async () => {
  const api = fakeApi({ runs: () => Promise.resolve(page(twoRuns)) });
  render(<RunsView api={api} path="a.ipynb" settings={settings} />);
  await screen.findAllByRole('row');
  const compare = screen.getByRole('button', { name: 'Compare the two selected runs' }) as HTMLButtonElement;
  expect(compare.disabled).toBe(true);
  fireEvent.click(screen.getByLabelText('Select run new-run to compare'));
  fireEvent.click(screen.getByLabelText('Select run old-run to compare'));
  fireEvent.click(compare);
  const table = within(screen.getByRole('table', { name: 'Two runs compared' }));
  const depth = table.getByRole('rowheader', { name: 'depth' }).parentElement!;
  expect(Array.from(depth.querySelectorAll('td')).map(td => td.textContent)).toEqual(['', '3']);
  expect(depth.className).toBe('jp-mlops-differs');
  expect(table.getByRole('rowheader', { name: 'loss' })).toBeTruthy();
});

test('refresh asks the server again', async () => {
  const api = fakeApi({ runs: () => Promise.resolve(page(twoRuns)) });
  render(<RunsView api={api} path="a.ipynb" settings={settings} />);
  await screen.findAllByRole('row');
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Refresh runs' })));
  expect(api.calls.filter(c => c[0] === 'runs')).toHaveLength(2);
});

test('the empty state shows the two lines that log a run', async () => {
  render(<RunsView api={fakeApi()} path="a.ipynb" settings={settings} />);
  expect(await screen.findByText(/You have no runs of this notebook yet/)).toBeTruthy();
  expect(screen.getByText(/import mlflow\s+with mlflow.start_run\(\): mlflow.log_metric/)).toBeTruthy();
});

test('a server error is shown as the server worded it, with its reason', async () => {
  const api = fakeApi({ runs: () => Promise.reject(new ServerError('MLflow at http://mlflow:5000 is not answering', 'mlflow-unavailable', 502)) });
  render(<RunsView api={api} path="a.ipynb" settings={settings} />);
  const alert = await screen.findByRole('alert');
  expect(alert.textContent).toBe('MLflow at http://mlflow:5000 is not answering (mlflow-unavailable)');
});

test('without a notebook nothing is asked', () => {
  const api = fakeApi();
  render(<RunsView api={api} path={null} settings={settings} />);
  expect(screen.getByText('Open a notebook to see its runs.')).toBeTruthy();
  expect(api.calls).toEqual([]);
});

test('older runs: the next page is fetched with the server\'s token and appended', async () => {
  const pages: Record<string, any> = {
    first: page([run({ run_id: 'new', run_name: 'new-run' })]),
    older: page([run({ run_id: 'old', run_name: 'old-run' })])
  };
  pages.first.next_page_token = 'tok-2';
  const api = fakeApi({ runs: (_p, _a, _m, token) => Promise.resolve(token === 'tok-2' ? pages.older : pages.first) });
  render(<RunsView api={api} path="a.ipynb" settings={settings} />);
  const older = await screen.findByRole('button', { name: 'Show older runs' });
  await act(async () => fireEvent.click(older));
  expect(api.calls.map(c => c[4])).toEqual([undefined, 'tok-2']);
  expect(screen.getAllByRole('row')).toHaveLength(3);
  expect(screen.queryByRole('button', { name: 'Show older runs' })).toBeNull(); // the last page has no token
});
