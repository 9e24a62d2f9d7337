/** The status bar's text: environment, CPU/RAM limits, and live use against them. */
import React from 'react';

import { formatBytes, parseBytes } from './format';
import { ResourceUsage, ServerContext } from './types';

export function statusText(context: ServerContext | null, usage: ResourceUsage | null): string {
  const parts: string[] = [];
  if (context?.environment) {
    parts.push(context.environment);
  }
  const memLimit = usage?.limits?.memory?.rss || parseBytes(context?.mem_limit ?? null);
  if (usage) {
    parts.push(`Mem ${formatBytes(usage.rss)}${memLimit ? ' / ' + formatBytes(memLimit) : ''}`);
  } else if (memLimit) {
    parts.push(`Mem limit ${formatBytes(memLimit)}`);
  }
  const cpuLimit = context?.cpu_limit ? Number(context.cpu_limit) : null;
  if (usage?.cpu_percent !== undefined) {
    // psutil's percent is of one core; shown against the server's CPU limit
    parts.push(`CPU ${Math.round(usage.cpu_percent)}%${cpuLimit ? ' of ' + cpuLimit * 100 + '%' : ''}`);
  } else if (cpuLimit) {
    parts.push(`CPU limit ${cpuLimit}`);
  }
  return parts.join(' · ');
}

export function StatusView(props: { context: ServerContext | null; usage: ResourceUsage | null }): JSX.Element {
  const text = statusText(props.context, props.usage);
  return (
    <span className="jp-mlops-status" role="status" aria-label={`This server: ${text}`}>
      {text || 'mlops-hub'}
    </span>
  );
}
