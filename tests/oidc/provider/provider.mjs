// A real OpenID Connect provider (panva's certified oidc-provider) for the sign-in
// tests, on loopback. Configured from the environment by tests/oidc/provider.py:
//   PORT             where to listen (127.0.0.1)
//   CLIENTS          JSON list of {client_id, client_secret, redirect_uris}
//   ACCOUNTS         JSON map of login -> claims (email, email_verified, name, groups)
//   CLOCK_SKEW       seconds to add to this process's clock (a provider whose clock is
//                    behind issues tokens that have already expired)
// Prints "ready <issuer>" on stdout once it listens.
import Provider from 'oidc-provider';

const skew = Number(process.env.CLOCK_SKEW || 0) * 1000;
if (skew) {
  const realNow = Date.now;
  Date.now = () => realNow() + skew;
}

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const clients = JSON.parse(process.env.CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));

const provider = new Provider(issuer, {
  clients,
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Scope claims in the ID token too, as Okta and Entra send a groups claim there.
  conformIdTokenClaims: false,
  // First-party clients: no consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Session: 600, Interaction: 600, Grant: 600 },
  cookies: { keys: ['awu-test-cookie-key'] },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
