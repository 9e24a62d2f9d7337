import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import React from 'react';

import { ScheduleView } from '../jobs';
import { describeSchedule, parseParameters, presetOf } from '../schedule';
import { JobLog, ServerError } from '../types';
import { fakeApi, job, jobRun } from './fakes';

const noop = async () => undefined;

function renderView(api: ReturnType<typeof fakeApi>, extra: Partial<React.ComponentProps<typeof ScheduleView>> = {}) {
  return render(<ScheduleView api={api} path="p/a.ipynb" saveNotebook={noop} openPath={() => undefined} pollMs={5} {...extra} />);
}

test('the schedule in words: presets, cron in UTC, and what is wrong with a bad one', () => {
  expect(describeSchedule('0 3 * * *')).toEqual({ text: 'At 03:00 (UTC)', valid: true });
  expect(describeSchedule('@once').text).toBe('Once, at the start date');
  expect(describeSchedule('').text).toBe('Runs only when you start it');
  expect(describeSchedule('0 3 * *')).toEqual({
    text: 'A cron expression has 5 fields: minute hour day-of-month month day-of-week', valid: false
  });
  expect(describeSchedule('0 25 * * *').valid).toBe(false);
  expect(presetOf('@daily')).toEqual({ preset: '@daily', cron: '' });
  expect(presetOf('*/5 * * * *')).toEqual({ preset: 'cron', cron: '*/5 * * * *' });
});

test('parameters: JSON values, plain text as strings, and the bad line named', () => {
  expect(parseParameters('alpha = 0.5\nname = churn\nflags = [1, 2]\n# a comment')).toEqual({
    value: { alpha: 0.5, name: 'churn', flags: [1, 2] }
  });
  expect(parseParameters('alpha = 1\n2x = 3')).toEqual({
    error: 'Parameters, line 2: expected "name = value" with a Python name'
  });
});

test('a notebook without a schedule: the form schedules it after saving the notebook', async () => {
  const order: string[] = [];
  const api = fakeApi({ scheduleJob: body => { order.push('schedule'); return Promise.resolve(job({ schedule: body.schedule })); } });
  renderView(api, { saveNotebook: async () => { order.push('save'); } });
  expect(await screen.findByText(/This notebook has no schedule/)).toBeTruthy();
  fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'cron' } });
  fireEvent.change(screen.getByLabelText('Cron expression (UTC)'), { target: { value: '30 8 * * 1-5' } });
  expect(screen.getByText('At 08:30, Monday through Friday (UTC)')).toBeTruthy();
  fireEvent.change(screen.getByLabelText(/Parameters/), { target: { value: 'alpha = 0.25' } });
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Schedule' })));
  expect(order).toEqual(['save', 'schedule']);
  expect(api.calls.find(c => c[0] === 'scheduleJob')![1]).toEqual({
    path: 'p/a.ipynb', schedule: '30 8 * * 1-5', parameters: { alpha: 0.25 }, retries: 0, paused: false
  });
  expect(await screen.findByLabelText("This notebook's schedule")).toBeTruthy();
  expect(screen.getByRole('button', { name: 'Run now' })).toBeTruthy();
});

test('a bad cron expression or parameter line keeps the form from being sent', async () => {
  const api = fakeApi();
  renderView(api);
  fireEvent.change(await screen.findByLabelText('Schedule'), { target: { value: 'cron' } });
  fireEvent.change(screen.getByLabelText('Cron expression (UTC)'), { target: { value: '0 3 * *' } });
  expect((screen.getByRole('button', { name: 'Schedule' }) as HTMLButtonElement).disabled).toBe(true);
  fireEvent.change(screen.getByLabelText('Cron expression (UTC)'), { target: { value: '0 3 * * *' } });
  fireEvent.change(screen.getByLabelText(/Parameters/), { target: { value: 'not a parameter' } });
  expect(screen.getByRole('alert').textContent).toBe('Parameters, line 1: expected "name = value" with a Python name');
  expect((screen.getByRole('button', { name: 'Schedule' }) as HTMLButtonElement).disabled).toBe(true);
  expect(api.calls.some(c => c[0] === 'scheduleJob')).toBe(false);
});

test("the hub's refusal is shown as it worded it, and the form stays", async () => {
  const api = fakeApi({
    scheduleJob: () => Promise.reject(new ServerError('Invalid schedule: minute field 61: above 59', 'jobs', 400))
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Schedule' });
  await act(async () => fireEvent.click(target));
  expect(screen.getByRole('alert').textContent).toBe('Invalid schedule: minute field 61: above 59 (jobs)');
  expect(screen.getByRole('button', { name: 'Schedule' })).toBeTruthy();
});

test("a scheduled notebook: its schedule in words, its runs, and the executed notebook opens", async () => {
  const opened: string[] = [];
  const api = fakeApi({
    jobs: () => Promise.resolve([job({ notebook: 'other.ipynb', id: 'nb__x' }), job()]),
    jobDetail: () => Promise.resolve({ job: job(), runs: [jobRun(), jobRun({ run_id: 'scheduled__1', run_type: 'scheduled', state: 'failed' })], total: 2 })
  });
  renderView(api, { openPath: p => opened.push(p) });
  const facts = await screen.findByLabelText("This notebook's schedule");
  expect(within(facts).getByText('At 03:00 (UTC)')).toBeTruthy();
  expect(within(facts).getByText('python, 1 CPU, 2048 MiB')).toBeTruthy();
  expect(api.calls.find(c => c[0] === 'jobDetail')).toEqual(['jobDetail', 'nb__ada__a__0123456789ab', 10, 0]);
  const rows = within(screen.getByLabelText('Recent runs of this job')).getAllByRole('row');
  expect(rows).toHaveLength(3);
  expect(within(rows[2]).getByText('failed')).toBeTruthy();
  expect(within(rows[2]).getByText('scheduled')).toBeTruthy();
  fireEvent.click(within(rows[1]).getByRole('button', { name: /Open the executed notebook/ }));
  expect(opened).toEqual(['p/runs/a-manual__2026-01-02.ipynb']);
});

test('run now follows the run\'s log, asking only for what is new, until it ends', async () => {
  const answers: JobLog[] = [
    { lines: [], continuation_token: null, state: 'queued', try_number: 0 },
    { lines: ['Executing: a.ipynb', 'cell 1'], continuation_token: 't1', state: 'running', try_number: 1 },
    { lines: ['done'], continuation_token: 't2', state: 'success', try_number: 1 }
  ];
  const api = fakeApi({
    jobs: () => Promise.resolve([job()]),
    jobLog: () => Promise.resolve(answers.shift() ?? { lines: ['never asked'], continuation_token: 't3', state: 'success', try_number: 1 })
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Run now' });
  await act(async () => fireEvent.click(target));
  const log = await screen.findByRole('log');
  await waitFor(() => expect(log.textContent).toBe('Executing: a.ipynb\ncell 1\ndone'));
  const tokens = api.calls.filter(c => c[0] === 'jobLog').map(c => c[3]);
  expect(tokens).toEqual([null, null, 't1']);
  expect(screen.getByText(/: success$/)).toBeTruthy();
  expect(api.calls.filter(c => c[0] === 'jobDetail').length).toBeGreaterThanOrEqual(3); // loaded, after run, after end
});

test('a full team pool refuses run now with the pool\'s message', async () => {
  const api = fakeApi({
    jobs: () => Promise.resolve([job()]),
    runJobNow: () => Promise.reject(new ServerError("The team pool of 'one-slot' is full: 1 of 1 servers", 'jobs', 403))
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Run now' });
  await act(async () => fireEvent.click(target));
  expect(screen.getByRole('alert').textContent).toBe("The team pool of 'one-slot' is full: 1 of 1 servers (jobs)");
  expect(screen.queryByRole('log')).toBeNull();
});

test('pause, edit with the saved values, and remove after confirming', async () => {
  const weekly = { schedule: '@weekly', parameters: { alpha: 0.5 } };
  const api = fakeApi({
    jobs: () => Promise.resolve([job(weekly)]),
    setJobPaused: (_id, paused) => Promise.resolve(job({ ...weekly, paused }))
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Pause' });
  await act(async () => fireEvent.click(target));
  expect(api.calls.find(c => c[0] === 'setJobPaused')).toEqual(['setJobPaused', 'nb__ada__a__0123456789ab', true]);
  expect(screen.getByRole('button', { name: 'Resume' })).toBeTruthy();

  fireEvent.click(screen.getByRole('button', { name: 'Edit' }));
  expect((screen.getByLabelText('Schedule') as HTMLSelectElement).value).toBe('@weekly');
  expect((screen.getByLabelText(/Parameters/) as HTMLTextAreaElement).value).toBe('alpha = 0.5');
  fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));

  fireEvent.click(screen.getByRole('button', { name: 'Remove' }));
  expect(api.calls.some(c => c[0] === 'deleteJob')).toBe(false); // asks first
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Remove the schedule' })));
  expect(api.calls.find(c => c[0] === 'deleteJob')).toEqual(['deleteJob', 'nb__ada__a__0123456789ab']);
  expect(await screen.findByText(/This notebook has no schedule/)).toBeTruthy();
});

test('older runs are fetched a page at a time', async () => {
  const runs = Array.from({ length: 15 }, (_, i) => jobRun({ run_id: `r${i}` }));
  const api = fakeApi({
    jobs: () => Promise.resolve([job()]),
    jobDetail: (_id, limit) => Promise.resolve({ job: job(), runs: runs.slice(0, limit), total: runs.length })
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Show older runs (10 of 15)' });
  await act(async () => fireEvent.click(target));
  expect(api.calls.filter(c => c[0] === 'jobDetail').map(c => c[2])).toEqual([10, 20]);
  expect(within(screen.getByLabelText('Recent runs of this job')).getAllByRole('row')).toHaveLength(16);
  expect(screen.queryByRole('button', { name: /Show older runs/ })).toBeNull();
});

test('after the log ends the runs are reloaded until the run\'s row is no longer running', async () => {
  const states = ['queued', 'running', 'running', 'success'];
  const api = fakeApi({
    jobs: () => Promise.resolve([job()]),
    runJobNow: () => Promise.resolve(jobRun({ run_id: 'now', state: 'queued' })),
    jobDetail: () => Promise.resolve({ job: job(), runs: [jobRun({ run_id: 'now', state: states.shift() ?? 'success' })], total: 1 }),
    jobLog: () => Promise.resolve({ lines: ['done'], continuation_token: 't', state: 'success', try_number: 1 })
  });
  renderView(api);
  const target = await screen.findByRole('button', { name: 'Run now' });
  await act(async () => fireEvent.click(target));
  const table = await screen.findByLabelText('Recent runs of this job');
  await waitFor(() => expect(within(table).getByText('success')).toBeTruthy());
  expect(states).toEqual([]);
});
