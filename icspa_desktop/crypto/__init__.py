"""Cryptographic building blocks from `cryptography`: bytes in, bytes out, no files, no Qt."""
