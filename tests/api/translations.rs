//! Portuguese, Italian, Dutch, Polish and Japanese, as a browser that prefers them reads the
//! sign-in: the login page, the "check your email" page and the sign-in mail.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_LANGUAGE};

use crate::helpers::{TestApp, hidden_field, spawn_app};

/// What a browser sending `accept_language` should read.
struct Expected {
    accept_language: &'static str,
    tag: &'static str,
    login_heading: &'static str,
    sent_heading: &'static str,
    mail_subject: &'static str,
    mail_expiry: &'static str,
}

const LANGUAGES: [Expected; 5] = [
    Expected {
        accept_language: "pt-BR,pt;q=0.9,en;q=0.8",
        tag: "pt",
        login_heading: "<h1>Entrar</h1>",
        sent_heading: "<h1>Verifique o seu e-mail</h1>",
        mail_subject: "O seu link de acesso",
        mail_expiry: "O link expira em 15 minutos",
    },
    Expected {
        accept_language: "it-CH",
        tag: "it",
        login_heading: "<h1>Accedi</h1>",
        sent_heading: "<h1>Controlla la tua email</h1>",
        mail_subject: "Il tuo link di accesso",
        mail_expiry: "Il link scade tra 15 minuti",
    },
    Expected {
        accept_language: "nl-BE,nl;q=0.9",
        tag: "nl",
        login_heading: "<h1>Inloggen</h1>",
        sent_heading: "<h1>Kijk in je mailbox</h1>",
        mail_subject: "Je inloglink",
        mail_expiry: "De link verloopt over 15 minuten",
    },
    Expected {
        accept_language: "pl",
        tag: "pl",
        login_heading: "<h1>Zaloguj się</h1>",
        sent_heading: "<h1>Sprawdź pocztę</h1>",
        mail_subject: "Twój link do logowania",
        mail_expiry: "Link wygasa za 15 minut",
    },
    Expected {
        accept_language: "ja-JP,ja;q=0.9,en;q=0.5",
        tag: "ja",
        login_heading: "<h1>ログイン</h1>",
        sent_heading: "<h1>メールを確認してください</h1>",
        mail_subject: "ログインリンク",
        mail_expiry: "リンクは15分後",
    },
];

fn content_language(response: &reqwest::Response) -> String {
    response.headers().get(CONTENT_LANGUAGE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn get_in(app: &TestApp, path: &str, languages: &str) -> reqwest::Response {
    app.send(app.client.get(format!("{}{path}", app.address)).header(ACCEPT_LANGUAGE, languages)).await
}

#[tokio::test]
async fn portuguese_italian_dutch_polish_and_japanese_browsers_get_their_pages_and_mail() {
    for expected in LANGUAGES {
        let app = spawn_app().await;
        let language = expected.accept_language;

        let response = get_in(&app, "/login", language).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_language(&response), expected.tag);
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!(r#"<html lang="{}">"#, expected.tag)), "{html}");
        assert!(html.contains(expected.login_heading) && !html.contains("Email me a sign-in link"), "{html}");

        let csrf = hidden_field(&html, "csrf").unwrap();
        let request = app.client.post(format!("{}/login", app.address)).header(ACCEPT_LANGUAGE, language);
        let sent = app.send(request.form(&[("email", "ana@example.com"), ("csrf", csrf.as_str())])).await;
        assert_eq!(sent.status(), StatusCode::OK);
        assert_eq!(content_language(&sent), expected.tag);
        let html = sent.text().await.unwrap();
        assert!(html.contains(expected.sent_heading) && html.contains("<strong>ana@example.com</strong>"), "{html}");

        let mail = &app.mail.wait_for(1).await[0];
        assert_eq!(mail.subject(), expected.mail_subject);
        assert!(mail.text().contains(expected.mail_expiry), "{}", mail.text());
        let mail_html = mail.html();
        assert!(mail_html.contains(&format!(r#"<html lang="{}">"#, expected.tag)), "{mail_html}");
        assert!(mail_html.contains(expected.mail_expiry), "{mail_html}");
    }
}
