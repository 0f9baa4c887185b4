# The guide's operations as Sidekiq jobs: transform_user_data, an I/O wait
# and argon2id password hashing (libsodium, as jobq).
require "sidekiq"
require "rbnacl"
url = ENV.fetch("REDIS_URL")
Sidekiq.configure_server { |c| c.redis = { url: url } }
Sidekiq.configure_client { |c| c.redis = { url: url } }

class TransformJob
  include Sidekiq::Worker
  def perform(u)
    full = u["full_name"]
    { "id" => u["id"], "username" => (u["username"] || "").downcase,
      "email" => (u["email"] || "").downcase, "created_at" => u["created_at"],
      "display_name" => (full.nil? || full.empty?) ? u["username"] : full }
  end
end

class SleepJob
  include Sidekiq::Worker
  def perform(ms)
    sleep(ms / 1000.0)
    Sidekiq.redis { |r| r.incr("bench:done") }
  end
end

class HashJob
  include Sidekiq::Worker
  def perform(password)
    RbNaCl::PasswordHash.argon2_str(password, :interactive, :interactive)
    Sidekiq.redis { |r| r.incr("bench:done") }
  end
end
