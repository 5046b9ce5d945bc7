"""The native wire protocol's constants (docs/protocol.md), shared by the server and its clients:
the path, the version, the limits, the close codes and the error codes."""

PROTOCOL_VERSION = 1
WS_PATH = "/ws"
MIN_RATE, MAX_RATE = 8000, 96000
MAX_MESSAGE_BYTES = 1 << 20  # one message at most (websockets max_size)
MAX_QUEUED_MESSAGES = 4  # received messages the connection buffers before it stops reading the socket

# Close codes (RFC 6455)
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_LATER = 1013

# Stable error codes
E_BAD_JSON = "bad_json"
E_BAD_EVENT = "bad_event"
E_UNKNOWN_EVENT = "unknown_event"
E_BAD_AUDIO = "bad_audio"
E_CONFIG_LOCKED = "config_locked"
E_INPUT_OVERFLOW = "input_overflow"
MAX_CLOSE_REASON_BYTES = 123  # a close frame is a control frame: 125 bytes, 2 of them the code
MAX_PING_ID_CHARS = 256
