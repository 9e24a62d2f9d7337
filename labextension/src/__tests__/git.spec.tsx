import { act, fireEvent, render, screen } from '@testing-library/react';
import React from 'react';

import { GitView } from '../git';
import { ServerError } from '../types';
import { fakeApi, saved, settings } from './fakes';

async function fillAndSave(message: string, branch = '') {
  fireEvent.change(await screen.findByLabelText('Commit message'), { target: { value: message } });
  if (branch) {
    fireEvent.change(screen.getByLabelText(/^Branch/), { target: { value: branch } });
  }
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save to GitLab' })));
}

test('shows repository, branch, commit and uncommitted changes', async () => {
  render(<GitView api={fakeApi()} path="p/a.ipynb" settings={settings} saveNotebook={async () => undefined} />);
  expect(await screen.findByText('http://gitlab/team/analysis.git')).toBeTruthy();
  expect(screen.getByText('main')).toBeTruthy();
  expect(screen.getByText('abcdef01')).toBeTruthy();
  expect(screen.getByText('uncommitted changes')).toBeTruthy();
});

test('save: the notebook is saved first, then committed with the form, and the links are shown', async () => {
  const order: string[] = [];
  const api = fakeApi({ save: req => { order.push('push'); return Promise.resolve({ ...saved, req } as any); } });
  render(<GitView api={api} path="p/a.ipynb" settings={settings} saveNotebook={async () => { order.push('save'); }} />);
  await fillAndSave('Tune the learning rate', 'tuning');
  expect(order).toEqual(['save', 'push']);
  expect(api.calls.find(c => c[0] === 'save')![1]).toEqual({
    path: 'p/a.ipynb', message: 'Tune the learning rate', branch: 'tuning', strip_outputs: true, merge_request: true
  });
  expect(screen.getByText('feedbeef').getAttribute('href')).toBe(saved.commit_url);
  expect(screen.getByText('Merge request !7').getAttribute('href')).toBe(saved.merge_request!.url);
});

test('save shows its progress while the server works', async () => {
  let finish: (v: any) => void = () => undefined;
  const api = fakeApi({ save: () => new Promise(resolve => { finish = resolve; }) });
  render(<GitView api={api} path="a.ipynb" settings={settings} saveNotebook={async () => undefined} />);
  await fillAndSave('msg');
  expect(screen.getByRole('status').textContent).toBe('Committing and pushing to GitLab…');
  await act(async () => finish(saved));
  expect(screen.queryByText('Committing and pushing to GitLab…')).toBeNull();
});

test('a refused push is shown as the server worded it', async () => {
  const api = fakeApi({ save: () => Promise.reject(new ServerError('the branch moved on GitLab: pull first', 'push-rejected', 409)) });
  render(<GitView api={api} path="a.ipynb" settings={settings} saveNotebook={async () => undefined} />);
  await fillAndSave('msg');
  expect(screen.getByRole('alert').textContent).toBe('the branch moved on GitLab: pull first (push-rejected)');
});

test('a missing token asks for one, saves it and retries the save', async () => {
  let attempts = 0;
  const api = fakeApi({
    save: () => (++attempts === 1 ? Promise.reject(new ServerError('no GitLab token for you', 'gitlab-token-missing', 401)) : Promise.resolve(saved))
  });
  render(<GitView api={api} path="a.ipynb" settings={settings} saveNotebook={async () => undefined} />);
  await fillAndSave('msg');
  fireEvent.change(screen.getByLabelText(/GitLab personal access token/), { target: { value: 'glpat-1' } });
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Use this token' })));
  expect(api.calls.find(c => c[0] === 'saveToken')).toEqual(['saveToken', 'glpat-1']);
  expect(attempts).toBe(2);
  expect(screen.getByText('Merge request !7')).toBeTruthy();
});

test('a notebook outside git shows the server\'s reason and no save form', async () => {
  const api = fakeApi({ gitStatus: () => Promise.reject(new ServerError('a.ipynb is not in a git repository', 'not-a-git-repository', 409)) });
  render(<GitView api={api} path="a.ipynb" settings={settings} saveNotebook={async () => undefined} />);
  expect((await screen.findByRole('alert')).textContent).toBe('a.ipynb is not in a git repository (not-a-git-repository)');
  expect(screen.queryByRole('button', { name: 'Save to GitLab' })).toBeNull();
});
