"""Security building blocks of the gateway: multi-scope rate limiting, TOTP-based MFA and KMS envelope
encryption. Import from the subpackages (`runtime.security.ratelimit`, `.mfa`, `.envelope`)."""
