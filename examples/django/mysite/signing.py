"""Values signed with SECRET_KEY, as django.core.signing does for cookies:
what changes when the key changes, without ever showing the key."""

import hashlib
import hmac

from mysite import settings


def signature(value):
    key = hashlib.sha256(b"mysite.signing" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
