/* tests/fuzz/fuzz_keys.h — the fixed key set the JWT and JWKS targets verify
 * against. These are fuzzing keys, published here: never use them elsewhere.
 *
 * - "hs1": oct, the HS256 key of RFC 7515 Appendix A.1 (64 bytes);
 * - "ec1": EC P-256 for ES256, made for these targets; its private part "d"
 *   is in tests/fuzz/make-jwt-seeds.py, which signs the seed tokens. */
#ifndef BFF_FUZZ_KEYS_H
#define BFF_FUZZ_KEYS_H

#define FUZZ_HS1_B64 \
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"

#define FUZZ_JWKS                                                                      \
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"hs1\",\"alg\":\"HS256\",\"k\":\"" FUZZ_HS1_B64 \
    "\"},{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"use\":\"sig\","           \
    "\"x\":\"ZmeiqOCBauaCFzIf4RkDqOgZs6kzB-gJiIBrp9HLWgs\","                            \
    "\"y\":\"G27LevgEVdhKUXPEk_adR1zh2UAx5XvfXJTPvI40Cmo\"}]}"

/* The time every token is verified at, and the policy (bff-mobile's) */
#define FUZZ_NOW 1700000000LL
#define FUZZ_ISSUER "https://auth.shop.example"

#endif
