"""Turns a JFIF JPEG into the form most UVC webcams send as MJPEG: an AVI1
APP0 segment and no DHT (the decoder must use the standard Huffman tables).
ffmpeg's encoder writes the standard tables, so dropping them is lossless.
Usage: python3 make_avi1.py in.mjpg out.mjpg"""
import struct, sys

data = open(sys.argv[1], "rb").read()
assert data[:2] == b"\xff\xd8"
out, i = bytearray(b"\xff\xd8"), 2
out += b"\xff\xe0" + struct.pack(">H", 16) + b"AVI1\x00" + bytes(9)
while True:
    marker = data[i:i + 2]
    if marker == b"\xff\xda":  # start of scan: the rest is entropy-coded data
        out += data[i:]
        break
    length = struct.unpack(">H", data[i + 2:i + 4])[0]
    if marker not in (b"\xff\xc4", b"\xff\xe0"):  # drop DHT and the JFIF APP0
        out += data[i:i + 2 + length]
    i += 2 + length
open(sys.argv[2], "wb").write(out)
