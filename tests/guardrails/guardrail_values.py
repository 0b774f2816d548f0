"""Fake values shaped like real credentials and PII (random, never issued), shared by the guardrail tests."""

GITHUB_TOKEN = "ghp_R8f2KqLm4Xz7Tn1Vb9Wc3Yd6Ep0Hs5Ju2Ag4"
AWS_KEY = "AKIAZ7QK3MWN5TXB2P6R"
EMAIL = "jane.doe@gmail.com"
CARD = "4111 1111 1111 1111"


#: The guardrail tests' ``standard`` profile: every action in use, plus allow-lists.
STANDARD_GUARDRAILS = {
    "default": "standard",
    "profiles": {
        "standard": {
            "input": {
                "SECRET": "block",
                "EMAIL_ADDRESS": "redact",
                "PHONE_NUMBER": {"action": "redact", "threshold": 0.4},
                "CREDIT_CARD": "mask",
                "default": "allow",
            },
            "output": {"SECRET": "block", "CREDIT_CARD": "mask", "default": "allow"},
            "restore": True,
            "allow_values": ["support@ourco.com"],
            "allow_patterns": ["@ourco\\.com$", "^4242424242424242$"],
        }
    },
}
