"""Shared by the training-loss tests: run a few optimizer steps on a fixed loss."""


def optimizer_steps(loss, optimizer, steps: int = 8) -> list[float]:
    """Call ``loss()`` and step ``optimizer`` ``steps`` times; returns the loss before each step."""
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses
