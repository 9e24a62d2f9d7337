import { LabIcon } from '@jupyterlab/ui-components';

// a flask: runs and experiments
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><path class="jp-icon3" fill="#616161" d="M9 2h6v2h-1v5.2l5.6 9.3A2 2 0 0 1 17.9 21H6.1a2 2 0 0 1-1.7-2.5L10 9.2V4H9V2zm3 9-2.6 4.4h5.2L12 11z"/></svg>`;

export const mlopsIcon = new LabIcon({ name: 'mlops-hub:flask', svgstr });
