// Sandbox OpenID Connect identity provider for the cutover control plane demo and tests.
//
// NOT for production: fixed dev cookie key, plain-text passwords in users.json,
// everything kept in memory (a restart forgets sessions and makes a new signing key).
//
// Configuration comes from environment variables; see README.md beside this file.
// stdout carries exactly one line, "IdP ready: ...", once the server listens;
// everything else (oidc-provider notices and warnings, request errors) goes to stderr.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// Loopback by default (the demo and the tests run on one machine); a container sets
// IDP_HOST=0.0.0.0 so that its published port reaches the server.
const HOST = (process.env.IDP_HOST || '').trim() || '127.0.0.1';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);

// oidc-provider prints its "default X function called" notices with console.info (stdout).
// Keep stdout for the single readiness line.
console.info = (...args) => console.error(...args);

function envBool(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(raw.trim().toLowerCase());
}

function envList(name, fallback) {
  const raw = process.env[name];
  const value = raw === undefined || raw.trim() === '' ? fallback : raw;
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

const requestedPort = Number.parseInt(process.env.IDP_PORT || '9400', 10);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`IDP_PORT must be an integer 0-65535, got ${process.env.IDP_PORT}`);
  process.exit(2);
}
const CLIENT_ID = process.env.IDP_CLIENT_ID || 'cutover-control-plane';

// IDP_CLIENT_SECRET, else the contents of the file IDP_CLIENT_SECRET_FILE (e.g. a compose
// secret), else the sandbox default.
function clientSecret() {
  if (process.env.IDP_CLIENT_SECRET) return process.env.IDP_CLIENT_SECRET;
  const file = process.env.IDP_CLIENT_SECRET_FILE;
  if (!file) return 'sandbox-secret';
  let secret;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (err) {
    console.error(`IDP_CLIENT_SECRET_FILE ${file}: cannot read the client secret: ${err.message}`);
    process.exit(2);
  }
  if (!secret) {
    console.error(`IDP_CLIENT_SECRET_FILE ${file}: the file is empty`);
    process.exit(2);
  }
  return secret;
}
const CLIENT_SECRET = clientSecret();
const REDIRECT_URIS = envList(
  'IDP_REDIRECT_URIS',
  'http://127.0.0.1:8000/accounts/oidc/sandbox/login/callback/,'
    + 'http://localhost:8000/accounts/oidc/sandbox/login/callback/',
);
const ALLOW_LOOPBACK_ANY_PORT = envBool('IDP_ALLOW_LOOPBACK_ANY_PORT', true);
const USERS_FILE = path.resolve(process.env.IDP_USERS_FILE || path.join(HERE, 'users.json'));

// ---------------------------------------------------------------------------
// Users (re-read on every lookup, so a test may edit the file between logins)
// ---------------------------------------------------------------------------

function loadUsers() {
  const data = JSON.parse(readFileSync(USERS_FILE, 'utf8'));
  const list = Array.isArray(data) ? data : data.users;
  if (!Array.isArray(list)) throw new Error(`${USERS_FILE}: expected a JSON list of users`);
  return list.map((u) => ({
    ...u,
    sub: u.sub || `user-${u.username}`,
    groups: Array.isArray(u.groups) ? u.groups : [],
  }));
}

function userBySub(sub) {
  return loadUsers().find((u) => u.sub === sub);
}

function checkCredentials(username, password) {
  const user = loadUsers().find((u) => u.username === username);
  if (user && typeof user.password === 'string' && user.password === password) return user;
  return undefined;
}

// ---------------------------------------------------------------------------
// Loopback redirect URI matching (RFC 8252 section 7.3: any port on loopback)
// ---------------------------------------------------------------------------

// http://HOST[:PORT][REST] with HOST a loopback name; REST starts with / or ? and has no #.
const LOOPBACK_URI = /^http:\/\/(127\.0\.0\.1|localhost)(?::(\d{1,5}))?([/?][^#]*)?$/;

function splitLoopback(uri) {
  if (typeof uri !== 'string') return undefined;
  const m = LOOPBACK_URI.exec(uri);
  if (!m) return undefined;
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  let parsed;
  try {
    parsed = new URL(uri);
  } catch {
    return undefined;
  }
  if (!LOOPBACK_HOSTS.has(parsed.hostname) || parsed.username || parsed.password) return undefined;
  return { host: m[1], port, rest: m[3] || '/' };
}

// True when `value` equals one of `allowed` except for the port, on a loopback host.
function loopbackAnyPortMatch(value, allowed) {
  const v = splitLoopback(value);
  if (!v) return false;
  return allowed.some((a) => {
    const s = splitLoopback(a);
    return s !== undefined && s.host === v.host && s.rest === v.rest;
  });
}

// Post-logout: any http://127.0.0.1:PORT/... or http://localhost:PORT/... page.
function loopbackAnyPage(value) {
  return splitLoopback(value) !== undefined;
}

function originsOf(uris) {
  const out = new Set();
  for (const u of uris) {
    try {
      out.add(`${new URL(u).origin}/`);
    } catch { /* ignore */ }
  }
  return [...out];
}

// ---------------------------------------------------------------------------
// HTML (no external resources, no script)
// ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE = `
  body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;background:#f3f4f6;color:#111827;margin:0;padding:40px 16px}
  main{max-width:360px;margin:0 auto;background:#fff;border:1px solid #d1d5db;border-radius:6px;padding:24px 28px}
  h1{font-size:1.35em;margin:0 0 4px}
  p.sub{color:#4b5563;margin:0 0 18px;font-size:.9em}
  label{display:block;font-weight:600;margin:12px 0 4px}
  input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:1em;border:1px solid #9ca3af;border-radius:4px}
  button{margin-top:18px;width:100%;padding:9px;font-size:1em;font-weight:600;border:0;border-radius:4px;background:#1d4ed8;color:#fff;cursor:pointer}
  button.secondary{background:#e5e7eb;color:#111827}
  .error{background:#fee2e2;border:1px solid #fca5a5;color:#991b1b;padding:8px 10px;border-radius:4px;margin:0 0 12px}
  pre{white-space:pre-wrap;word-wrap:break-word;font-size:.85em}
  footer{max-width:360px;margin:12px auto 0;color:#6b7280;font-size:.8em;text-align:center}
`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
<footer>Sandbox identity provider &mdash; demo accounts only</footer>
</body>
</html>
`;
}

function loginPage({ uid, clientName, username = '', error = false }) {
  return page('Sign in - Sandbox IdP', `
<h1>Sign in</h1>
<p class="sub">to continue to ${esc(clientName)}</p>
${error ? '<p class="error" role="alert">Invalid username or password</p>' : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="login">Username</label>
  <input type="text" id="login" name="login" value="${esc(username)}" required autofocus autocapitalize="none" spellcheck="false">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" required>
  <button type="submit">Sign in</button>
</form>`);
}

function errorPage(out) {
  const rows = Object.entries(out || {})
    .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n');
  return page('Sign-in error - Sandbox IdP', `<h1>Something went wrong</h1>\n${rows}`);
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
};

function sendHtml(res, status, html) {
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(html) });
  res.end(html);
}

// ---------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------

function makeJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `sandbox-${randomUUID()}`, alg: 'RS256', use: 'sig' }] };
}

function buildProvider(issuer) {
  const postLogout = originsOf(REDIRECT_URIS);
  const configuration = {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      client_name: 'Cutover control plane',
      redirect_uris: REDIRECT_URIS,
      post_logout_redirect_uris: postLogout,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
      require_auth_time: true, // auth_time in every id_token
    }],
    jwks: makeJwks(),
    cookies: {
      keys: ['cutover-sandbox-idp-dev-cookie-key-not-secret'],
      names: {
        session: 'sandbox_idp_session',
        interaction: 'sandbox_idp_interaction',
        resume: 'sandbox_idp_interaction_resume',
      },
    },
    pkce: { required: () => true }, // oidc-provider 9 supports S256 only
    responseTypes: ['code'],
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      auth_time: null,
      sid: null,
      acr: null,
      iss: null,
    },
    conformIdTokenClaims: false, // scope claims land in the id_token too
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = page('Sign out - Sandbox IdP', `
<h1>Sign out?</h1>
<p class="sub">Do you want to sign out of the sandbox identity provider?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Signed out - Sandbox IdP', '<h1>Signed out</h1>\n<p class="sub">You have been signed out of the sandbox identity provider.</p>');
        },
      },
    },
    interactions: {
      url: async (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, sub) {
      const user = userBySub(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        async claims() {
          return {
            sub: user.sub,
            name: user.name || user.username,
            preferred_username: user.username,
            email: user.email,
            email_verified: Boolean(user.email),
            groups: [...user.groups],
          };
        },
      };
    },
    // No consent page: the grant always covers what the client asked for.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const accountId = oidc.account.accountId;
      const clientId = oidc.client.clientId;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
        grant = new oidc.provider.Grant({ accountId, clientId });
      }
      const scopes = [...oidc.requestParamOIDCScopes];
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = errorPage(out);
    },
    clientBasedCORS(ctx, origin) {
      return loopbackAnyPage(`${origin}/`);
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      IdToken: 3600,
      Interaction: 3600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 24 * 3600,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
  };

  const provider = new Provider(issuer, configuration);

  // Loopback redirect URIs on any port (tests run Django on random ports).
  const { Client } = provider;
  const exactRedirect = Client.prototype.redirectUriAllowed;
  Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (exactRedirect.call(this, value)) return true;
    return ALLOW_LOOPBACK_ANY_PORT && loopbackAnyPortMatch(value, this.redirectUris);
  };
  const exactPostLogout = Client.prototype.postLogoutRedirectUriAllowed;
  Client.prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    if (exactPostLogout.call(this, value)) return true;
    return ALLOW_LOOPBACK_ANY_PORT && loopbackAnyPage(value);
  };

  provider.on('server_error', (ctx, err) => {
    console.error(`server_error ${ctx.method} ${ctx.path}:`, err);
  });
  return provider;
}

// ---------------------------------------------------------------------------
// Interaction routes: GET /interaction/:uid, POST /interaction/:uid/login
// ---------------------------------------------------------------------------

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?\/?$/;

function readForm(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

async function autoConsent(provider, details) {
  const { prompt: { details: d }, params, session, grantId } = details;
  let grant = grantId ? await provider.Grant.find(grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return { consent: { grantId: await grant.save() } };
}

async function handleInteraction(provider, req, res, match) {
  const [, uid, isLogin] = match;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    sendHtml(res, 400, errorPage({
      error: err.error || 'invalid_request',
      error_description: 'The sign-in request expired or was not found. Start again from the application.',
    }));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: 'interaction mismatch' }));
    return;
  }
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;

  if (!isLogin && req.method === 'GET') {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, loginPage({ uid, clientName, username: details.params.login_hint || '' }));
      return;
    }
    if (details.prompt.name === 'consent') {
      await provider.interactionFinished(req, res, await autoConsent(provider, details), {
        mergeWithLastSubmission: true,
      });
      return;
    }
    sendHtml(res, 400, errorPage({ error: 'interaction_required', error_description: `unsupported prompt ${details.prompt.name}` }));
    return;
  }

  if (isLogin && req.method === 'POST') {
    const form = await readForm(req);
    const username = (form.get('login') || '').trim();
    const user = checkCredentials(username, form.get('password') || '');
    if (!user) {
      sendHtml(res, 200, loginPage({ uid, clientName, username, error: true }));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }

  res.writeHead(405, { Allow: isLogin ? 'POST' : 'GET', 'Content-Type': 'text/plain' });
  res.end('method not allowed\n');
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

let provider;
let providerCallback;

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  const match = INTERACTION.exec(pathname);
  if (match) {
    handleInteraction(provider, req, res, match).catch((err) => {
      console.error('interaction error:', err);
      if (!res.headersSent) sendHtml(res, 500, errorPage({ error: 'server_error' }));
      else res.end();
    });
    return;
  }
  if (!providerCallback) {
    res.writeHead(503, { 'Content-Type': 'text/plain' });
    res.end('starting\n');
    return;
  }
  providerCallback(req, res);
});

function shutdown(signal) {
  console.error(`IdP stopping (${signal})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.on('error', (err) => {
  console.error(`IdP failed to listen on ${HOST}:${requestedPort}: ${err.message}`);
  process.exit(1);
});

// The default issuer names the listening address; for a wildcard one (0.0.0.0, ::), loopback.
function defaultIssuer(port) {
  const host = ['0.0.0.0', '::'].includes(HOST) ? '127.0.0.1' : HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

server.listen(requestedPort, HOST, () => {
  const { port } = server.address();
  const issuer = (process.env.IDP_ISSUER || defaultIssuer(port)).replace(/\/+$/, '');
  try {
    loadUsers();
    provider = buildProvider(issuer);
  } catch (err) {
    console.error('IdP configuration error:', err);
    process.exit(2);
  }
  providerCallback = provider.callback();
  const discovery = `${issuer}/.well-known/openid-configuration`;
  process.stdout.write(`IdP ready: issuer=${issuer} discovery=${discovery} client_id=${CLIENT_ID}\n`);
});
