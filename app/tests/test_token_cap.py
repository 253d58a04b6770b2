from chatterbox_shim.engines.base import TokenCap


def test_cap_grows_with_text_and_respects_ceiling():
    cap = TokenCap(base_seconds=1.5, chars_per_second=7.0, ceiling=1000)
    assert cap.for_text("Okay.") == 56  # ceil(25 * (1.5 + 5/7)) = ceil(55.36)
    assert cap.for_text("x" * 70) == 288  # ceil(25 * 11.5) = 287.5 -> 288
    assert cap.for_text("x" * 10_000) == 1000
    assert TokenCap(ceiling=8).for_text("x" * 100) == 8


def test_cap_leaves_room_for_a_normal_reading():
    # A brisk 15 characters per second reading of a 100-character sentence is 6.7 s = 167 tokens.
    assert TokenCap().for_text("x" * 100) >= 2 * 167
