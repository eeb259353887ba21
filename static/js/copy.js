// Copies the value of the field a [data-copy] button names, and says so beside it.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const said = document.querySelector(`[data-copied="${button.dataset.copy}"]`);
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select(); // no clipboard (plain HTTP, or refused): selected, for the keyboard's copy
    return;
  }
  if (said) said.hidden = false;
});
