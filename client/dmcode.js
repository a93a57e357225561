// Browser helper for the function's public verification flow. No dependencies:
// drop it next to your page and import it as an ES module.
//
//   import { createVerifier } from "./dmcode.js";
//   const verifier = createVerifier("https://mail.example.com");
//   const { token, resendIn } = await verifier.send("user@example.com", { locale: "en" });
//   const { proof } = await verifier.check(token, "123456");   // give `proof` to your backend
//
// Failures throw a VerificationError whose `code` is the function's stable error code
// (rate_limited, invalid_code, expired, too_many_attempts, invalid_email,
// captcha_required, captcha_failed, undeliverable_domain, ...).

export class VerificationError extends Error {
  constructor(status, error, retryAfter) {
    super(error.message || `Request failed with status ${status}`);
    this.name = "VerificationError";
    this.status = status;
    this.code = error.code || "network_error";
    this.field = error.field;
    this.requestId = error.requestId;
    this.attemptsLeft = error.attemptsLeft;
    // Seconds to wait before trying again (429 and 503 carry it).
    this.retryAfter = retryAfter;
  }
}

async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw new VerificationError(0, { code: "network_error", message: "The verification service cannot be reached." });
  }
  let data = null;
  try {
    data = await response.json();
  } catch (cause) {
    data = null;
  }
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After")) || undefined;
    throw new VerificationError(response.status, (data && data.error) || {}, retry);
  }
  return data;
}

export function createVerifier(baseUrl) {
  const root = String(baseUrl).replace(/\/+$/, "");
  return {
    // Emails a code to `to`; resolves to { token, expiresIn, resendIn }. `captcha` is the
    // human-check widget's token, when the function has CAPTCHA_PROVIDER set.
    send(to, { type = "SignIn", locale, captcha } = {}) {
      const body = { to, type };
      if (locale) body.locale = locale;
      if (captcha) body.captcha = captcha;
      return post(`${root}/verifications`, body);
    },
    // Checks the code the user typed; resolves to { valid, to, type, proof }.
    check(token, code) {
      return post(`${root}/verifications/check`, { token, code: String(code).trim() });
    },
  };
}
