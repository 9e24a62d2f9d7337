import { render, screen } from '@testing-library/react';
import React from 'react';

import { formatBytes, parseBytes } from '../format';
import { StatusView, statusText } from '../statusview';

const context = { user: 'ada', environment: 'python', image_digest: null, cpu_limit: '1.5', mem_limit: '2147483648', mlflow_ui_url: null, gitlab_url: null };

test('environment and limits before any measurement', () => {
  expect(statusText(context, null)).toBe('python · Mem limit 2.0 GiB · CPU limit 1.5');
});

test('live use from jupyter-resource-usage against the limits', () => {
  const usage = { rss: 300 * 1024 * 1024, limits: { memory: { rss: 2147483648 } }, cpu_percent: 42.4 };
  expect(statusText(context, usage)).toBe('python · Mem 300 MiB / 2.0 GiB · CPU 42% of 150%');
});

test('the status item is labelled for screen readers', () => {
  render(<StatusView context={context} usage={null} />);
  expect(screen.getByRole('status').getAttribute('aria-label')).toBe('This server: python · Mem limit 2.0 GiB · CPU limit 1.5');
});

test('sizes: JupyterHub byte counts and unit suffixes', () => {
  expect(parseBytes('2147483648')).toBe(2147483648);
  expect(parseBytes('2G')).toBe(2147483648);
  expect(parseBytes('512M')).toBe(536870912);
  expect(parseBytes('lots')).toBeNull();
  expect(formatBytes(1536)).toBe('1.5 KiB');
});
