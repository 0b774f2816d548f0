"""Entity type names the guardrails know (static, so config validation needs no Presidio import)."""

from __future__ import annotations

from .secret_patterns import SECRET_SPECS

SECRET_FAMILY = "SECRET"

#: Every secret entity type; all start with ``SECRET_`` so policy can address them as a family.
SECRET_ENTITIES: tuple[str, ...] = tuple(sorted({spec.entity for spec in SECRET_SPECS}))

#: Pattern recognizers loomllm can load (Presidio's, and loomllm's own for PERSON and STREET_ADDRESS), by type.
ALL_PII_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "DATE_TIME",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "MEDICAL_LICENSE",
    "PERSON",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "UK_NHS",
    "UK_NINO",
    "URL",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
    "US_SSN",
)

#: Loaded unless the config names its own list (the noisy ones — dates, URLs, bare digit runs — are opt-in).
DEFAULT_PII_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "PERSON",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "UK_NHS",
    "UK_NINO",
    "US_ITIN",
    "US_SSN",
)

#: Entities only a spaCy NER model produces (``spacy_model`` set and installed).
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION", "NRP", "ORGANIZATION")
