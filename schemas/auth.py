"""Sign-in, token rotation and invite acceptance."""

import marshmallow as ma

from schemas.common import email_field, password_field


class LoginSchema(ma.Schema):
    email = email_field(required=True)
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=200))


class RefreshSchema(ma.Schema):
    refresh_token = ma.fields.String(required=True, validate=ma.validate.Length(min=10, max=200))


class AcceptInviteSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=12, max=20))
    password = password_field(required=True)


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String(dump_default="Bearer")
    expires_in = ma.fields.Integer(metadata={"description": "Access token lifetime in seconds"})
