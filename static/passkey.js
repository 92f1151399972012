// latchkey's one script: the WebAuthn calls of the passkey forms. A form marked
// `data-passkey-start` stays hidden (its fallback text shown) unless this browser has WebAuthn.
// Submitting it asks the server for the ceremony's options, lets the browser create or use the
// passkey, and submits the form with the answer in its `credential` field; the server's answer
// is an ordinary page. A form also marked `data-passkey-autofill` (the login page) offers the
// browser's passkeys in the address field's autofill too (conditional UI), where the browser
// can. An element marked `data-passkey-offer` (the offer to set up a passkey after an email
// sign-in) is shown on a device with a platform authenticator, once: showing it sets the cookie
// the attribute names, and the server leaves the offer out while the cookie is there.
"use strict";

(function () {
  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    bytes.forEach((b) => { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    const o = json.publicKey;
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return { publicKey: o };
  }

  function requestOptions(json) {
    const o = json.publicKey;
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return { publicKey: o, mediation: json.mediation };
  }

  function created(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults(),
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined,
      },
    };
  }

  function asserted(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults(),
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null,
      },
    };
  }

  // The autofill request waiting for the person to pick a passkey, if any: the button's
  // request replaces it (a browser runs one WebAuthn request at a time).
  let autofill = null;

  async function offerInAutofill(form) {
    const available = PublicKeyCredential.isConditionalMediationAvailable
      && await PublicKeyCredential.isConditionalMediationAvailable();
    if (!available) {
      return;
    }
    const body = new URLSearchParams({ csrf: form.elements.csrf.value, conditional: "true" });
    const answer = await fetch(form.dataset.passkeyStart, { method: "POST", body, credentials: "same-origin" });
    if (!answer.ok) {
      return;
    }
    const options = requestOptions(await answer.json());
    autofill = new AbortController();
    options.signal = autofill.signal;
    const cred = await navigator.credentials.get(options);
    autofill = null;
    form.elements.credential.value = JSON.stringify(asserted(cred));
    form.submit();
  }

  async function offerOnce(offer) {
    const platform = PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable
      && await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
    if (!platform) {
      return;
    }
    offer.hidden = false;
    document.cookie = offer.dataset.passkeyOffer + "=1; Max-Age=34560000; Path=/; Secure; SameSite=Lax";
  }

  async function ceremony(form) {
    if (autofill) {
      autofill.abort();
      autofill = null;
    }
    const body = new URLSearchParams({ csrf: form.elements.csrf.value });
    const answer = await fetch(form.dataset.passkeyStart, { method: "POST", body, credentials: "same-origin" });
    if (!answer.ok || !(answer.headers.get("content-type") || "").includes("json")) {
      // Not allowed now ("confirm it's you", a step that ended): the form's own answer says why.
      form.submit();
      return;
    }
    const options = await answer.json();
    const cred = form.dataset.passkeyCeremony === "create"
      ? created(await navigator.credentials.create(creationOptions(options)))
      : asserted(await navigator.credentials.get(requestOptions(options)));
    form.elements.credential.value = JSON.stringify(cred);
    form.submit();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    document.querySelectorAll("[data-passkey-fallback]").forEach((p) => { p.hidden = true; });
    document.querySelectorAll("form[data-passkey-start]").forEach((form) => {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        const button = form.querySelector("button");
        button.disabled = true;
        ceremony(form).catch(function () { button.disabled = false; });
      });
      if (form.hasAttribute("data-passkey-autofill")) {
        offerInAutofill(form).catch(function () { autofill = null; });
      }
    });
    document.querySelectorAll("[data-passkey-offer]").forEach((offer) => {
      offerOnce(offer).catch(function () {});
    });
    document.querySelectorAll("[data-passkey-only]").forEach((p) => { p.hidden = false; });
  });
})();
