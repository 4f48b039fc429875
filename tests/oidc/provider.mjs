// A real OpenID Connect provider for the team-server tests (panva/oidc-provider, its development sign-in
// pages: any login name is accepted and becomes the user's subject and e-mail).
// Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true, name: id }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['tvmviz-test-only-cookie-key'] },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
