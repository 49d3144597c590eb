"""The binary API for market makers: SoupBinTCP, OUCH 5.0 order entry, an ITCH 5.0 feed.

    schema.py        the one table of every message layout and code set; codecs and PROTOCOL.md
                     (protocol_doc.py) are derived from it
    soup.py          SoupBinTCP framing, the connection state machine, heartbeats, listeners
    store.py         each user's persistent store of sequenced output (replay after reconnect)
    wire.py          what the wire can say about instruments (price grid, symbols) and time
    ouch.py          order entry: messages -> engine commands, mass quote, protection, cancel on
                     disconnect; ouch_codec.py its encoders and tables, ouch_replies.py the
                     engine events -> OUCH replies
    itch_feed.py     the ITCH feed of the books (snapshot, then the live durable stream)
    gateway.py       both listeners as the server runs them ([binary] in the configuration)
    client.py        asyncio clients (also `ordex.gateway.client`)
"""
