// tests/jwt-interop/interop.mjs — an independent JOSE implementation (jose)
// on the other side of Portico's JWT code, driven by tests/unit/test_jwt.c.
//
//   node interop.mjs mint NOW
//     makes one key per algorithm, prints {"jwks":{...},"tokens":{ALG:JWT}}:
//     tokens signed by jose, for Portico to verify.
//   node interop.mjs verify NOW JWKS_FILE TOKEN...
//     verifies tokens minted by bff-token against the JWKS bff-token printed;
//     prints one JSON line per token: {"ok":true,"payload":{...},"thumbprint_ok":true}
//     or {"ok":false,"error":"..."}.
import { readFileSync } from 'node:fs';
import * as jose from 'jose';

const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384',
  'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

async function mint(now) {
  const keys = [];
  const tokens = {};
  for (const alg of ALGS) {
    const kid = `jose-${alg}`;
    let priv, pub;
    if (alg.startsWith('HS')) {
      priv = await jose.generateSecret(alg, { extractable: true });
      pub = priv;
    } else {
      const opts = { extractable: true };
      if (alg.startsWith('RS') || alg.startsWith('PS')) opts.modulusLength = 2048;
      if (alg === 'EdDSA') opts.crv = 'Ed25519';
      ({ privateKey: priv, publicKey: pub } = await jose.generateKeyPair(alg, opts));
    }
    const jwk = await jose.exportJWK(pub);
    keys.push({ ...jwk, kid, alg, use: 'sig' });
    tokens[alg] = await new jose.SignJWT({ roles: ['customer', 'support'] })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setSubject('4412')
      .setIssuer('https://auth.test')
      .setAudience('shop')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(priv);
  }
  process.stdout.write(JSON.stringify({ jwks: { keys }, tokens }) + '\n');
}

async function verify(now, jwksFile, tokens) {
  const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
  for (const token of tokens) {
    try {
      const header = jose.decodeProtectedHeader(token);
      const cands = jwks.keys.filter((k) => header.kid === undefined || k.kid === header.kid);
      if (cands.length !== 1) throw new Error(`${cands.length} keys fit kid ${header.kid}`);
      const jwk = cands[0];
      let thumbprintOk = true;
      if (jwk.kty !== 'oct' && jwk.kid !== undefined)
        thumbprintOk = (await jose.calculateJwkThumbprint(jwk, 'sha256')) === jwk.kid;
      const key = await jose.importJWK(jwk, header.alg);
      const { payload } = await jose.jwtVerify(token, key, { algorithms: ALGS,
        currentDate: new Date(now * 1000) });
      process.stdout.write(JSON.stringify({ ok: true, alg: header.alg, payload,
        thumbprint_ok: thumbprintOk }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(e) }) + '\n');
    }
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'mint') await mint(Number(args[0]));
else if (mode === 'verify') await verify(Number(args[0]), args[1], args.slice(2));
else {
  process.stderr.write('usage: node interop.mjs mint NOW | verify NOW JWKS_FILE TOKEN...\n');
  process.exit(2);
}
