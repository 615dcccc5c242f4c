"""The WeChat Official Account server protocol: signatures, safe-mode crypto, message XML.

- Every request is signed: `signature = sha1(sorted([token, timestamp, nonce]))`. A timestamp
  further than `wechat_max_clock_skew_s` from now is refused, so an old request cannot be replayed.
- Safe mode (`encrypt_type=aes`): the body's `Encrypt` element is AES-256-CBC under the
  EncodingAESKey and signed by `msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))`;
  the reply is encrypted the same way. Compatible mode accepts plain and encrypted messages, safe
  mode only encrypted ones. The AES part is wechatpy's (with the cryptography backend).
- XML is parsed by defusedxml with DTDs forbidden (no XXE, no entity bombs), not by wechatpy's
  xmltodict parser. Replies are wechatpy's reply classes; their renderer puts each value in a CDATA
  section as it is, so a value's `]]>` is split across two sections (and characters XML cannot hold
  dropped) before it is handed over.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from dialog_core.errors import DialogError, InvalidInput
from dialog_core.settings import Settings


class WeChatSettingsError(InvalidInput):
    """The WeChat settings are incomplete or malformed."""


class Forbidden(DialogError):
    """A bad or missing signature, or a stale timestamp: nothing was read or stored."""

    http_status = 403


class BadMessage(InvalidInput):
    """The body is not a WeChat message we can read (400, as for any unreadable XML body)."""

    http_status = 400


@dataclass(frozen=True)
class WeChatConfig:
    token: str
    app_id: str
    app_secret: str
    aes_key: str | None
    mode: str  # plain | compatible | safe
    api_base_url: str
    reply_timeout_s: float
    max_clock_skew_s: float
    dedupe_ttl_s: int
    push_interval_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatConfig | None:
        """The channel's settings, or None when it is off (no `wechat_token`)."""
        token = settings.wechat_token.get_secret_value() if settings.wechat_token else ""
        if not token:
            return None
        secret = settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else ""
        if not settings.wechat_app_id or not secret:
            raise WeChatSettingsError(
                "The WeChat channel needs DIALOG_WECHAT_APP_ID and DIALOG_WECHAT_APP_SECRET too."
            )
        key = settings.wechat_encoding_aes_key.get_secret_value() if settings.wechat_encoding_aes_key else ""
        if key and not _valid_aes_key(key):
            raise WeChatSettingsError("DIALOG_WECHAT_ENCODING_AES_KEY must be a 43-character EncodingAESKey.")
        if settings.wechat_mode != "plain" and not key:
            raise WeChatSettingsError(
                f"WeChat {settings.wechat_mode} mode needs DIALOG_WECHAT_ENCODING_AES_KEY."
            )
        return cls(
            token=token,
            app_id=settings.wechat_app_id,
            app_secret=secret,
            aes_key=key or None,
            mode=settings.wechat_mode,
            api_base_url=settings.wechat_api_base_url.rstrip("/"),
            reply_timeout_s=settings.wechat_reply_timeout_s,
            max_clock_skew_s=settings.wechat_max_clock_skew_s,
            dedupe_ttl_s=settings.wechat_dedupe_ttl_s,
            push_interval_s=settings.wechat_push_interval_s,
        )


def _valid_aes_key(key: str) -> bool:
    if len(key) != 43:
        return False
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except binascii.Error:
        return False


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclass(frozen=True)
class SignedQuery:
    """The query string WeChat adds to every callback."""

    signature: str = ""
    timestamp: str = ""
    nonce: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""

    @property
    def encrypted(self) -> bool:
        return self.encrypt_type.lower() == "aes"


@dataclass(frozen=True)
class InboundMessage:
    """A message or event from a user, as WeChat's XML fields."""

    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    @property
    def type(self) -> str:
        return self.get("MsgType").lower()

    @property
    def event(self) -> str:
        return self.get("Event").lower()

    @property
    def openid(self) -> str:
        return self.get("FromUserName")

    @property
    def account(self) -> str:
        return self.get("ToUserName")

    @property
    def dedupe_id(self) -> str:
        """MsgId for messages; CreateTime (+ Event) for events, as WeChat advises; unique per sender
        (FromUserName), which the ledger keys it by: another user's MsgId is another message."""
        msg_id = self.get("MsgId")
        return f"msg:{msg_id}" if msg_id else f"event:{self.get('CreateTime')}|{self.event}"


class WeChatCodec:
    """Checks, opens and seals WeChat messages for one Official Account."""

    def __init__(self, config: WeChatConfig) -> None:
        self.config = config
        self.crypto = WeChatCrypto(config.token, config.aes_key, config.app_id) if config.aes_key else None

    def verify(self, query: SignedQuery, now: float | None = None) -> None:
        """The request's signature and timestamp, or Forbidden."""
        if not (query.signature and query.timestamp.isdigit() and query.nonce):
            raise Forbidden("The request is not signed.")
        if abs((now or time.time()) - int(query.timestamp)) > self.config.max_clock_skew_s:
            raise Forbidden("The request's timestamp is too old or in the future.")
        expected = sign(self.config.token, query.timestamp, query.nonce)
        if not hmac.compare_digest(expected, query.signature.lower()):
            raise Forbidden("The request's signature is wrong.")

    def open(self, body: bytes, query: SignedQuery) -> InboundMessage:
        """The message in a verified request's body (decrypted in safe mode)."""
        fields = parse_xml(body)
        if not query.encrypted:
            if self.config.mode == "safe":
                raise Forbidden("Plain messages are refused in safe mode.")
            return InboundMessage(fields)
        if self.crypto is None:
            raise BadMessage("Encrypted messages need DIALOG_WECHAT_ENCODING_AES_KEY.")
        encrypted = fields.get("Encrypt", "")
        expected = sign(self.config.token, query.timestamp, query.nonce, encrypted)
        if not encrypted or not hmac.compare_digest(expected, query.msg_signature.lower()):
            raise Forbidden("The message signature is wrong.")
        try:
            plain = PrpCrypto(self.crypto.key).decrypt(encrypted, self.config.app_id)
        except Exception as error:  # padding, length or AppID: any of them means an unreadable body
            raise BadMessage("The encrypted message cannot be decrypted.") from error
        return InboundMessage(parse_xml(plain.encode()))

    def seal(self, reply_xml: str, query: SignedQuery) -> str:
        """The reply as sent back: encrypted when the request was."""
        if query.encrypted and self.crypto is not None:
            return self.crypto.encrypt_message(reply_xml, query.nonce, str(int(time.time())))
        return reply_xml


def parse_xml(body: bytes) -> dict[str, str]:
    """The child elements of a WeChat `<xml>` document; DTDs, entities and external references refused."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ParseError) as error:
        raise BadMessage("The body is not a well-formed WeChat XML message.") from error
    if root.tag != "xml":
        raise BadMessage("The body is not a WeChat XML message.")
    return {child.tag: child.text or "" for child in root}


_NOT_XML_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _cdata_safe(text: str) -> str:
    """`text` as it may stand inside `<![CDATA[...]]>`: `]]>` ends one section and opens the next."""
    return _NOT_XML_CHARACTERS.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def render_text_reply(message: InboundMessage, text: str, now: float | None = None) -> str:
    """A passive text reply to `message`."""
    reply = TextReply(
        source=_cdata_safe(message.account),
        target=_cdata_safe(message.openid),
        time=int(now or time.time()),
        content=_cdata_safe(text),
    )
    return str(reply.render())
