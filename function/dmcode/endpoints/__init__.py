"""The endpoints, one module each: `POST /send` (and direct invocation), `POST
/verifications` and `/verifications/check`, `GET /.well-known/jwks.json`, `GET /health`.
`dmcode.api` routes requests to them."""
