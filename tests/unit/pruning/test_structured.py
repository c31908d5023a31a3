from medprune.pruning.groups import round_kept


def test_structured_widths_round_up_to_the_channel_multiple():
    assert round_kept(64, 27, 8) == 24  # 37 kept -> 40
    assert round_kept(64, 0, 8) == 0
    assert round_kept(6, 3, 8) == 3  # narrower than the multiple: left alone
    assert round_kept(64, 27, 1) == 27
