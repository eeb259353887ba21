// A real OpenID provider (the certified `oidc-provider`) on loopback, for the staff sign-in tests
// (tests/test_staff_oidc.py starts and stops it). Configured from the environment:
//
//   PORT                 where it listens, on 127.0.0.1; its issuer is http://127.0.0.1:PORT
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI   the portal, as registered
//   ACCOUNTS_FILE        JSON {"<sub>": {"email": ..., "name": ..., "groups": [...]}}, read at every
//                        sign-in, so a test changes a staff member's groups between two of them
//
// Its sign-in pages are oidc-provider's own development pages: any password is accepted for a
// login that ACCOUNTS_FILE knows. Consent is granted by itself, as a company's IdP does for its
// own applications.
//
// A test makes it misbehave, once, with POST /_test/fault {"kind": ...}: the next ID token it
// issues is signed again with the provider's own key after a change (`audience`, `issuer`,
// `expired`, `nonce`), or signed with another key (`signature`).

import { readFileSync } from 'node:fs';

import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
const otherKey = (await generateKeyPair('RS256')).privateKey;

function accounts() {
  return JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      require_auth_time: true,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['portal-test-openid-provider-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const account = accounts()[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        const known = accounts()[sub] || account;
        return {
          sub,
          email: known.email,
          email_verified: true,
          name: known.name,
          preferred_username: sub,
          groups: known.groups || [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

let fault = null;

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/_test/fault') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    fault = JSON.parse(Buffer.concat(chunks).toString() || '{}').kind || null;
    ctx.body = { fault };
    return;
  }
  await next();
  if (ctx.path === '/token' && fault && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token, fault) };
    fault = null;
  }
});

async function tampered(idToken, kind) {
  const claims = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (kind === 'audience') claims.aud = 'another-application';
  if (kind === 'issuer') claims.iss = 'https://another-issuer.example';
  if (kind === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (kind === 'nonce') claims.nonce = 'a-nonce-of-another-sign-in';
  const key = kind === 'signature' ? otherKey : privateKey;
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'JWT' }).sign(key);
}

provider.listen(port, '127.0.0.1', () => {
  console.log(`OpenID provider listening on ${issuer}`);
});
