"""A football match recorded once by the referee and read four ways (TV, news, social, analytics): CQRS."""
