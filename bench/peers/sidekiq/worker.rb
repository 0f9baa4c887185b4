# The guide's transform_user_data as a Sidekiq job.
require "sidekiq"
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
