"""The probe alone, before any attack: the small client's latency the attacks compare with."""
import time


def test_baseline_without_an_attack(server, attack):
    attack.name = "no attack (baseline)"
    with attack.probe:
        time.sleep(3)
    assert len(attack.probe.embed_ms) > 10
