import { render, screen } from '@testing-library/react';
import React from 'react';

import { PanelView } from '../view';
import { fakeApi, settings } from './fakes';

test('the panel names the open notebook and has a labelled Runs, Git, Schedule and Serve a model section', async () => {
  const api = fakeApi();
  render(<PanelView api={api} path="p/a.ipynb" settings={settings} refreshTick={0} saveNotebook={async () => undefined}
    openPath={() => undefined} />);
  expect(screen.getByText('a.ipynb').getAttribute('title')).toBe('p/a.ipynb');
  for (const name of ['Runs', 'Git', 'Schedule', 'Serve a model']) {
    expect(screen.getByRole('region', { name })).toBeTruthy();
  }
  expect(await screen.findByText(/This notebook has no schedule/)).toBeTruthy();
});

test('without a notebook each section says what to open', () => {
  render(<PanelView api={fakeApi()} path={null} settings={settings} refreshTick={0} saveNotebook={async () => undefined}
    openPath={() => undefined} />);
  expect(screen.getByText('No notebook open')).toBeTruthy();
  expect(screen.getByText('Open a notebook to schedule it.')).toBeTruthy();
  expect(screen.getByText('Open a notebook to see its runs.')).toBeTruthy();
});
