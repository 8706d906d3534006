// A real OpenID provider for the tests: the OpenID-certified `oidc-provider` (8.x, pinned in
// package-lock.json), configured from the environment. tests/oidc_provider.py starts it; see
// tests/oidc/README.md.
//
//   OIDC_PORT              port to listen on, on 127.0.0.1 only
//   OIDC_ISSUER            e.g. http://127.0.0.1:PORT (no trailing slash)
//   OIDC_CLIENT_ID         the one (confidential) client: the Heitu portal
//   OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URIS     comma-separated, matched exactly
//   OIDC_ACCOUNTS          JSON: {"login name": {"name": "...", "region": "230184", "role": "county"}}
//                          (region may also be a list of codes; any key may be left out)
//   OIDC_CONSENT           "skip" (default): no consent page for this first-party client;
//                          "prompt": oidc-provider's own consent page ("Continue") is shown
//   OIDC_WATCH_STDIN       "1": exit when standard input closes (see the end of this file)
//
// Sign-in uses oidc-provider's built-in development interactions (features.devInteractions):
// a login page where any login name from OIDC_ACCOUNTS and any non-empty password sign in.
// A name not in OIDC_ACCOUNTS has no account, so it cannot sign in.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

function required(name) {
  const value = (process.env[name] || '').trim();
  if (!value) {
    console.error(`tests/oidc/provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
const issuer = required('OIDC_ISSUER').replace(/\/+$/, '');
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUris = required('OIDC_REDIRECT_URIS').split(',').map((u) => u.trim()).filter(Boolean);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const consent = (process.env.OIDC_CONSENT || 'skip').trim();
if (!['skip', 'prompt'].includes(consent)) {
  console.error(`tests/oidc/provider.mjs: OIDC_CONSENT must be "skip" or "prompt", not ${consent}`);
  process.exit(2);
}

// A fresh signing key each run, so the ID tokens are never signed with oidc-provider's
// built-in development key (whose private half is public).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

async function findAccount(ctx, id) {
  if (!Object.hasOwn(accounts, id)) {
    return undefined;
  }
  const { name, region, role } = accounts[id];
  return {
    accountId: id,
    // All of the account's claims; oidc-provider itself keeps only those that the granted
    // scopes (config `claims` below) allow in each place (ID token or userinfo).
    async claims() {
      const out = { sub: id };
      if (name !== undefined) out.name = name;
      if (region !== undefined) out.region = region;
      if (role !== undefined) out.role = role;
      return out;
    },
  };
}

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // A client registers one method, but oidc-provider 8.x takes either of the two
    // client_secret methods at the token endpoint from a client registered with one of them
    // (lib/shared/token_auth.js: both are allowed when a secret is presented), so authlib's
    // default client_secret_basic and client_secret_post both work.
    token_endpoint_auth_method: 'client_secret_basic',
  }],

  // Scopes and the claims each one gives. region and role are custom claims (scope `heitu`).
  scopes: ['openid', 'profile', 'heitu'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    heitu: ['region', 'role'],
  },
  // Where the claims go. With conformIdTokenClaims (true, the 8.x default; set here so that it
  // stays so) claims requested through `scope` are returned ONLY by the userinfo endpoint for
  // response_type `code`: the token endpoint issues the ID token with scope `openid` alone
  // (lib/actions/grants/authorization_code.js: `conformIdTokenClaims && userinfo.enabled &&
  // !at.aud`, i.e. the access token is for userinfo, no `resource` was asked for). So the ID
  // token carries sub and the protocol claims (iss, aud, exp, iat, nonce, at_hash), never
  // name, region or role; GET /me (the userinfo endpoint) with the access token returns sub,
  // name, region and role. (Checked by hand with oidc-provider 8.8.1.)
  conformIdTokenClaims: true,

  findAccount,

  // Only what the portal uses: the code flow, and a client secret at the token endpoint.
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],

  // PKCE with S256 required for every authorization request (8.x: top-level `pkce`).
  pkce: { required: () => true, methods: ['S256'] },

  features: {
    devInteractions: { enabled: true }, // the built-in login (and consent) pages
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },

  // Consent. The portal is a first-party client, so by default a grant of the scopes it asks
  // for is made as soon as the person has signed in, and no consent page is shown
  // (oidc-provider's "skip consent" recipe). OIDC_CONSENT=prompt keeps the default behaviour:
  // the devInteractions consent page, with a "Continue" button.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    // (A grant is gone when oidc-provider revoked it, e.g. after a replayed code.)
    const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (existing) {
      return existing;
    }
    if (consent === 'skip' && ctx.oidc.client.clientId === clientId && ctx.oidc.session.accountId) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile heitu');
      await grant.save();
      return grant;
    }
    return undefined;
  },

  jwks: { keys: [signingKey] },

  // Lifetimes (seconds), set so that oidc-provider does not warn about its defaults.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    Grant: 86400,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
  },

  // Cookies over plain http on 127.0.0.1. oidc-provider marks a cookie Secure only when the
  // request itself is https (lib/helpers/oidc_context.js), so nothing refuses them here. Its
  // long-lived session cookie defaults to SameSite=None, which browsers drop when it is not
  // Secure (it then falls back to a ".legacy" copy); Lax for both kinds avoids relying on that
  // and is enough, since every request that needs them is a top-level navigation or a
  // same-origin form post. Signed with a key made for this run.
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
};

const provider = new Provider(issuer, configuration);

// What went wrong, for the test's failure message (tests/oidc_provider.py keeps the output).
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
  provider.on(event, (ctx, err) => {
    console.error(`oidc-provider ${event}: ${err?.name}: ${err?.message} ${err?.error_description || ''}`);
  });
}

// oidc-provider's own pages (login, consent, errors, logout) @import a web font from
// fonts.googleapis.com; the tests have no network and must not try it, so that line is taken
// out of every HTML page served.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);?/g, '');
  }
});

// devInteractions takes any login name; one with no account here would only fail later with
// a server error. Such a login is refused by showing the login page again, as a real provider
// does with wrong credentials. (The body read here is handed on: oidc-provider's body parser
// uses an upstream-parsed body, and says so once on stderr.)
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    const form = new URLSearchParams(raw);
    if (form.get('prompt') === 'login' && !Object.hasOwn(accounts, form.get('login') || '')) {
      console.error(`oidc-provider: no account named ${JSON.stringify(form.get('login'))}, login page shown again`);
      ctx.status = 303;
      ctx.redirect(ctx.path);
      return;
    }
    ctx.req.body = raw;
  }
  await next();
});

const server = http.createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// OIDC_WATCH_STDIN=1 (tests/oidc_provider.py sets it, and keeps a pipe to our stdin open):
// exit when that pipe closes, so a test process that dies without stopping us leaves no
// provider behind.
if (process.env.OIDC_WATCH_STDIN === '1') {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
