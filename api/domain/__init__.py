"""Pure domain rules: instruments and scoring, schedule expansion, flag rules. No Flask, no database."""
