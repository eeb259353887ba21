// Copies the value of the field a [data-copy] button names, and says so beside it.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const said = document.querySelector(`[data-copied="${button.dataset.copy}"]`);
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    // No clipboard API here (plain HTTP), or it refused (the page had no focus): the older way,
    // from the selected field, within the click's activation; selected for the keyboard if not.
    field.select();
    copied = document.execCommand("copy");
  }
  if (said) said.hidden = !copied;
});
