import { fireEvent, render, screen } from '@testing-library/react';
import React from 'react';

import { ReleaseView } from '../models';
import { ServerError } from '../types';
import { fakeApi } from './fakes';

const release = () => screen.getByRole('button', { name: 'Release' }) as HTMLButtonElement;
const modelInput = () => screen.getByRole('textbox', { name: /Registered model/ });

test('a model reference is released through the hub and the answer says where it is served', async () => {
  const api = fakeApi();
  render(<ReleaseView api={api} />);
  expect(release().disabled).toBe(true); // nothing to release yet
  fireEvent.change(modelInput(), { target: { value: 'churn@champion' } });
  fireEvent.change(screen.getByRole('spinbutton', { name: 'Replicas' }), { target: { value: '2' } });
  fireEvent.click(release());
  expect(await screen.findByText('model-churn: version 3 answers (completed) at /models/churn/invocations')).toBeTruthy();
  expect(api.calls).toEqual([['releaseModel', { model: 'churn@champion', replicas: 2 }]]);
});

test('a reference that cannot name a model is explained and never sent', () => {
  const api = fakeApi();
  render(<ReleaseView api={api} />);
  fireEvent.change(modelInput(), { target: { value: 'Churn' } });
  expect(screen.getByRole('alert').textContent).toMatch(/then @alias or \/version/);
  expect(release().disabled).toBe(true);
  fireEvent.submit(screen.getByRole('form', { name: 'Serve a model' }));
  expect(api.calls).toEqual([]);
});

test("the hub's refusal is shown in its own words", async () => {
  const api = fakeApi({
    releaseModel: () => Promise.reject(new ServerError('model-churn: version 4 did not pass its health check',
      'rolled-back', 409))
  });
  render(<ReleaseView api={api} />);
  fireEvent.change(modelInput(), { target: { value: 'churn/4' } });
  fireEvent.click(release());
  const alert = await screen.findByRole('alert');
  expect(alert.textContent).toBe('model-churn: version 4 did not pass its health check (rolled-back)');
  expect(release().disabled).toBe(false); // it can be tried again
});
