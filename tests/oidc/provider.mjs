// A real OpenID Provider (panva/oidc-provider) for the login tests, on one local address
// (127.0.0.1, or the docker_gwbridge gateway so that containers reach it too).
// Settings come as one JSON argument: {host, port, client_id, client_secret_file, redirect_uri, accounts}.
// Accounts: {login: {claims...}}; any password is accepted (the provider's dev login form).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const accounts = settings.accounts;

const provider = new Provider(`http://${settings.host}:${settings.port}`, {
  clients: [{
    client_id: settings.client_id,
    client_secret: readFileSync(settings.client_secret_file, 'utf8').trim(),
    redirect_uris: [settings.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: [settings.cookie_key] },
});
provider.listen(settings.port, settings.host, () => console.log(`oidc-provider listening on ${settings.port}`));
