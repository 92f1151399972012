// An ordinary web app's OpenID Connect login, written with openid-client (the strict Node
// relying party), for the API test `oidc_node`. It talks JSON lines:
//
//   node rp.mjs --issuer URL --client-id ID [--client-secret SECRET] --redirect-uri URI
//               --alg EdDSA|RS256 [--post-logout-redirect-uri URI] [--max-age SECONDS]
//
//   stdout  {"authorization_url": "…"}          where the app sends the browser
//   stdin   the callback URL (with code and state), one line
//   stdout  {"id_token_header", "id_token_claims", "scope", "userinfo", "end_session_url"}
//
// Any failure prints {"error": {"name", "code", "message", "cause"}} on stdout (the cause being
// openid-client's own error, with the details in its "cause") and exits 1.
// Without --client-secret the client is public (token endpoint auth `none`).

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    alg: { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
    'max-age': { type: 'string' },
  },
});
for (const required of ['issuer', 'client-id', 'redirect-uri', 'alg']) {
  if (!args[required]) fail(new Error(`--${required} is required`));
}

/** One JSON line on stdout. */
function say(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Reports `error` (what openid-client threw, with its causes) and exits 1. */
function fail(error) {
  say({ error: plain(error) });
  process.exit(1);
}

/** `value` as plain JSON (an error with its causes), or its text when it does not serialise. */
function plain(value) {
  if (value instanceof Error) {
    return { name: value.name, code: value.code, message: value.message, cause: plain(value.cause) };
  }
  try {
    // Bytes (a signature, a signed input) only by their length.
    const bytes = (_, v) => (ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : v);
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value, bytes));
  } catch {
    return String(value);
  }
}

/** The next line on stdin. */
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function readLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error('stdin ended before the callback URL');
  return value.trim();
}

/** The decoded protected header of a compact JWS. */
function headerOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
}

async function main() {
  const secret = args['client-secret'];
  const metadata = {
    redirect_uris: [args['redirect-uri']],
    // What this app is registered with: openid-client then accepts id_tokens signed with
    // this algorithm only.
    id_token_signed_response_alg: args.alg,
  };
  const auth = secret ? client.ClientSecretBasic(secret) : client.None();
  const config = await client.discovery(new URL(args.issuer), args['client-id'], metadata, auth, {
    // The test service listens on http://127.0.0.1; openid-client refuses http issuers unless
    // told otherwise. Only this test script does that: a real app talks to an https issuer.
    // enableNonRepudiationChecks makes openid-client verify the id_token's signature with the
    // JWKS (by default it trusts the TLS connection to the token endpoint instead).
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const maxAge = args['max-age'] === undefined ? {} : { max_age: args['max-age'] };
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    ...maxAge,
    redirect_uri: args['redirect-uri'],
    // The common default scope of relying parties: latchkey grants what it offers of it.
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  say({ authorization_url: authorizationUrl.href });

  const callback = new URL(await readLine());
  // Checks state, the id_token (iss, aud, exp, iat, nonce, alg, signature; auth_time against
  // max_age when asked) and sends the PKCE verifier.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
    ...(args['max-age'] === undefined ? {} : { maxAge: Number(args['max-age']) }),
  });
  const claims = tokens.claims();
  // The userinfo response must name the id_token's subject.
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const endSession = args['post-logout-redirect-uri']
    ? client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: args['post-logout-redirect-uri'],
        state: 'bye',
      })
    : undefined;
  say({
    id_token_header: headerOf(tokens.id_token),
    id_token_claims: claims,
    scope: tokens.scope,
    userinfo,
    end_session_url: endSession?.href,
  });
}

main().then(() => process.exit(0), fail);
