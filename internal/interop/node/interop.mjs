// The Node side of tokenbroker's DPoP interop test (RFC 9449), driven by
// internal/interop's Go tests. It uses panva's oauth4webapi only — an
// implementation independent of ours — in one of two roles:
//
//   node interop.mjs client   gets a DPoP-bound token from the broker with
//                             oauth4webapi's own proofs (client_secret_basic),
//                             following use_dpop_nonce once, then calls CALL_URL
//                             (our resource middleware) with that token and a
//                             fresh proof; prints one JSON line with the outcome.
//   node interop.mjs rs       an HTTPS resource server whose only check is
//                             oauth4webapi's validateJwtAccessToken (RFC 9068 +
//                             RFC 9449 §7) against the broker's metadata and JWKS;
//                             prints {"url": …} once listening, then answers 200
//                             with the claims or 401 with the library's error code.
//
// Input comes from the environment (ISSUER, CLIENT_ID, CLIENT_SECRET, SCOPE,
// RESOURCE, CALL_URL; AUDIENCE, TLS_CERT, TLS_KEY for rs). The broker's CA
// reaches Node through NODE_EXTRA_CA_CERTS. Nothing secret is printed except
// the access token the Go test asked for.
import * as https from 'node:https'
import { readFileSync } from 'node:fs'
import * as oauth from 'oauth4webapi'

const env = (name, required = true) => {
  const v = process.env[name]
  if (required && !v) throw new Error(`${name} is required`)
  return v ?? ''
}

async function discover() {
  const issuer = new URL(env('ISSUER'))
  const resp = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2' })
  return oauth.processDiscoveryResponse(issuer, resp)
}

// retryOnNonce runs op, and once more when the server asked for a DPoP nonce
// (RFC 9449 §8, §9): the handle has remembered the nonce from the answer.
async function retryOnNonce(op, out, what) {
  try {
    return await op()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out[`${what}_nonce_retries`] = 1
    return op()
  }
}

async function client() {
  const as = await discover()
  const c = { client_id: env('CLIENT_ID') }
  const auth = oauth.ClientSecretBasic(env('CLIENT_SECRET'))
  const keyPair = await oauth.generateKeyPair(process.env.DPOP_ALG || 'ES256')
  const DPoP = oauth.DPoP(c, keyPair)
  const params = new URLSearchParams()
  if (env('SCOPE', false)) params.set('scope', env('SCOPE'))
  if (env('RESOURCE', false)) params.set('resource', env('RESOURCE'))
  const out = { jkt: await DPoP.calculateThumbprint() }
  const tok = await retryOnNonce(async () => {
    const resp = await oauth.clientCredentialsGrantRequest(as, c, auth, params, { DPoP })
    return oauth.processClientCredentialsResponse(as, c, resp)
  }, out, 'token')
  out.token_type = tok.token_type
  out.access_token = tok.access_token
  if (env('CALL_URL', false)) {
    try {
      const resp = await retryOnNonce(
        () => oauth.protectedResourceRequest(tok.access_token, 'GET', new URL(env('CALL_URL')), new Headers(), null, { DPoP }),
        out, 'call')
      out.call_status = resp.status
      out.call_body = await resp.text()
    } catch (err) {
      if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err
      out.call_status = err.response.status
      out.call_challenge = err.response.headers.get('www-authenticate')
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

async function rs() {
  const as = await discover()
  const audience = env('AUDIENCE')
  const srv = https.createServer({ cert: readFileSync(env('TLS_CERT')), key: readFileSync(env('TLS_KEY')) }, async (req, res) => {
    const headers = new Headers()
    for (const [k, v] of Object.entries(req.headers)) {
      for (const one of [].concat(v)) headers.append(k, one)
    }
    const url = `https://${req.headers.host}${req.url}`
    try {
      const request = new Request(url, { method: req.method, headers })
      const claims = await oauth.validateJwtAccessToken(as, request, audience, { requireDPoP: true })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ client_id: claims.client_id, jkt: claims.cnf?.jkt }))
    } catch (err) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: err.code || err.name, message: String(err.message) }))
    }
  })
  srv.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ url: `https://127.0.0.1:${srv.address().port}` }) + '\n')
  })
  // The Go test closes stdin when it is done: stop then.
  process.stdin.on('end', () => srv.close(() => process.exit(0)))
  process.stdin.resume()
}

const mode = process.argv[2]
const run = mode === 'client' ? client : mode === 'rs' ? rs : null
if (!run) {
  process.stderr.write('usage: node interop.mjs client|rs\n')
  process.exit(2)
}
run().catch((err) => {
  process.stderr.write(`${err.name}: ${err.message} ${err.code ?? ''} ${err.error ?? ''} ${err.error_description ?? ''}\n`)
  process.exit(1)
})
